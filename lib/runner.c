/*
 * runner.c — the process that owns a flight: the parts (loop.h, command.h,
 * output.h, hub.h) wired together, and the flight's lifecycle.  See
 * runner.h for its place and proto.h for what it says.
 *
 * Lifecycle, decided after every turn of the loop (step):
 *
 *   RUNNING    the command runs; joiners are welcomed.
 *     the command is done (reaped, both pipes at end of file)  -> ENDED:
 *       EXIT goes to everyone; the socket's name and the lock file are
 *       removed and the key released, so the next invocation starts a new
 *       flight while slow readers still drain this one.
 *     nobody is attached any more (but for a refresh, which runs to its
 *     end for the cache whoever is attached)                   -> ABANDONED:
 *       the socket's name is removed at once (nobody joins a doomed flight),
 *       the command gets SIGTERM, SIGKILL after the grace period.  The key
 *       stays held, so a newcomer waits on the lock instead of starting a
 *       second copy beside the one still cleaning up.
 *   ENDED      leaves when every client has hung up (or lingered too long).
 *   ABANDONED  leaves when the command's process group is gone.
 *
 * Two requests of control clients (proto.h) bend it, while RUNNING:
 *   FORGET  the socket stops taking joiners and the key is let go at once,
 *           so the next invocation starts a new flight beside this one,
 *           which runs on for the invocations attached and stores nothing
 *           (a refresh, with nobody attached, is abandoned at once).
 *   CANCEL  the socket stops taking joiners and the command gets SIGTERM,
 *           SIGKILL after the grace asked for; the key stays held until
 *           the flight has ended as the command died, and nothing is stored.
 *
 * Closing the door renames the socket from H.sock to H.<inode>.ctl rather
 * than removing it: joiners only ever connect to H.sock, and --list can
 * still reach the runner until it exits, when the name goes too.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "command.h"
#include "fleet.h"
#include "hub.h"
#include "loop.h"
#include "nest.h"
#include "output.h"
#include "runner.h"
#include "unixsock.h"

enum state { ELECTING, RUNNING, ENDED, ABANDONED };

/* Cache directories the invocations asked to store the result in; a
 * request for yet another is ignored (it would cost the runner a descriptor
 * each, for a rare mix of --cache-dir). */
#define CACHE_DIRS 4

struct cache_dir {
	int fd;
	dev_t dev;
	ino_t ino;
	uint64_t keep_ms;           /* the longest asked for */
	bool failures;              /* any asked for non-zero statuses too */
};

struct runner {
	const struct sf_runner_args *a;
	enum state state;
	int lockfd;                 /* -1 once the key is released */
	sf_loop *loop;
	sf_hub *hub;
	struct sf_output out;
	struct sf_command cmd;
	struct sf_command_restore restore;
	struct sf_fleet fleet;      /* --redis; fleet.conf NULL without */
	bool fleet_stopped;         /* the lease was lost: command stopped */
	bool termed;                /* SIGTERM before the command started */
	int devnull;                /* until the command has started */
	struct sf_msg exit;         /* how it ended, once ENDED */
	int64_t ended_ns;           /* when (cache.h's clock) */
	struct cache_dir cache[CACHE_DIRS];
	int ncache;
	int64_t started_ns;         /* when the runner began (cache.h's clock) */
	bool forgotten;             /* FORGET or CANCEL heard */
	bool cancelled;             /* CANCEL heard */
	bool door_closed;
	char ctlname[SF_KEY_NAME_LEN + 32]; /* the socket's name once renamed */
	uint8_t argv[SF_PROTO_MAX_ARGV]; /* the command, packed for STATUS */
	size_t argvlen;
	int argv_cut;
};

/* The starter's signal mask, saved by sf_runner_spawn before the fork. */
static sigset_t saved_mask;

static int
cmp_int(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

/* Close every descriptor above 2 but the n in keep. */
static void
close_others(int *keep, int n)
{
	int lo = 3, i;

	qsort(keep, (size_t)n, sizeof(*keep), cmp_int);
	for (i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] - 1 : ~0U;
		if (i < n && keep[i] < lo)
			continue;
		if ((unsigned)lo <= hi && close_range((unsigned)lo, hi, 0) == -1) {
			/* Kernels before 5.9: close one by one. */
			long max = sysconf(_SC_OPEN_MAX);
			unsigned fd;
			if (max < 0 || max > 65536)
				max = 65536;
			for (fd = (unsigned)lo; fd <= hi && fd < (unsigned)max; fd++)
				close((int)fd);
		}
		if (i < n)
			lo = keep[i] + 1;
	}
}

/* ---- the key ----------------------------------------------------------------- */

/*
 * Take our socket's name (never another flight's) from joiners: rename it
 * for control clients (see the top), or, if that cannot be done, remove it.
 */
static void
close_door(struct runner *r)
{
	if (r->door_closed)
		return;
	r->door_closed = true;
	snprintf(r->ctlname, sizeof(r->ctlname), "%s.%llu.ctl", r->a->key->name,
	    (unsigned long long)r->a->bound.st_ino);
	if (sf_unixsock_rename(r->a->dirfd, r->a->sockname, &r->a->bound,
	    r->ctlname) == -1) {
		r->ctlname[0] = '\0';
		sf_unixsock_unlink(r->a->dirfd, r->a->sockname, &r->a->bound);
	}
}

/* On the way out: the renamed socket's name goes too. */
static void
remove_door(struct runner *r)
{
	close_door(r);
	if (r->ctlname[0] != '\0')
		sf_unixsock_unlink(r->a->dirfd, r->ctlname, &r->a->bound);
}

/*
 * Let the key go.  The lock file goes first, while we still hold it: an
 * invocation blocked on it wakes to find it unlinked and starts over on a
 * fresh one (flight.c), so no lock file outlives the flight.
 */
static void
release_key(struct runner *r)
{
	struct stat st, ours;

	if (r->lockfd == -1)
		return;
	if (fstat(r->lockfd, &ours) == 0 &&
	    fstatat(r->a->dirfd, r->a->lockname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == ours.st_dev && st.st_ino == ours.st_ino)
		unlinkat(r->a->dirfd, r->a->lockname, 0);
	close(r->lockfd);
	r->lockfd = -1;
}

/* ---- callbacks ------------------------------------------------------------- */

static void
on_grew(void *arg)
{
	struct runner *r = arg;

	if (r->hub != NULL)
		sf_hub_grew(r->hub);
	if (r->fleet.conf != NULL)
		sf_fleet_grew(&r->fleet);
}

/* A follower's output grew (fleet.c appended to the spools). */
static void
on_fleet_grew(void *arg)
{
	struct runner *r = arg;

	if (r->hub != NULL)
		sf_hub_grew(r->hub);
}

static void
on_ended(void *arg)
{
	(void)arg;      /* step() sees cmd.done */
}

static void
on_stopped(void *arg)
{
	struct runner *r = arg;

	/* Everyone waiting is told why nothing comes (proto.h, NOTE). */
	if (r->hub != NULL)
		sf_hub_note(r->hub, r->cmd.stop_sig);
}

static void
on_child(void *arg)
{
	struct runner *r = arg;

	sf_command_reap(&r->cmd);
}

static void
on_term(void *arg)
{
	struct runner *r = arg;

	/* Told to stop: the command is stopped, and the invocations learn
	 * how it died, as if it had been signalled directly. */
	if (r->cmd.pid > 0)
		sf_command_abandon(&r->cmd);
	else
		r->termed = true;   /* not started yet (begin) */
}

/*
 * A joiner that is the command itself or one of its descendants would wait
 * for its own end.  They are all in the runner's session (it called setsid;
 * a descendant that made a session of its own still carries the marker of
 * nest.h, which its sfexec checks before it comes here).
 */
static int
admit(void *arg, const struct ucred *peer)
{
	(void)arg;
	if (peer->pid > 0 && getsid(peer->pid) == getsid(0))
		return SF_REFUSE_NESTED;
	return 0;
}

/* Does another host's runner run the command (or nobody, fleet failed)? */
static bool
following(const struct runner *r)
{
	return r->fleet.conf != NULL && (r->fleet.role == SF_FLEET_FOLLOWER ||
	    r->fleet.role == SF_FLEET_FAILED);
}

/* Has the source of the output (the command, or the leader's stream)
 * ended? */
static bool
source_done(const struct runner *r)
{
	if (following(r))
		return r->fleet.role == SF_FLEET_FAILED || r->fleet.done ||
		    r->termed;
	return r->cmd.done;
}

static void
exit_msg(const struct runner *r, struct sf_msg *m)
{
	const struct sf_command *c = &r->cmd;
	const char *name = NULL;
	size_t n;

	if (r->fleet.conf != NULL && r->fleet.role == SF_FLEET_FOLLOWER &&
	    r->fleet.done) {
		*m = r->fleet.exit;
		return;
	}
	memset(m, 0, sizeof(*m));
	m->type = SF_MSG_EXIT;
	m->u.exit.size[0] = r->out.size[0];
	m->u.exit.size[1] = r->out.size[1];
	m->u.exit.size[2] = r->out.size[SF_OUT_ORDER];
	if (r->fleet.role == SF_FLEET_FAILED || r->fleet_stopped) {
		m->u.exit.how = SF_END_FLEET;
		name = r->fleet.notice;
	} else if (following(r)) {
		/* A follower told to stop: as if the command had been. */
		m->u.exit.how = SF_END_SIGNALED;
		m->u.exit.code = SIGTERM;
	} else if (c->fail_err != 0) {
		m->u.exit.how = SF_END_FAILED;
		m->u.exit.err = c->fail_err;
		name = c->fail_what;
	} else if (c->exec_err != 0) {
		m->u.exit.how = SF_END_EXEC_FAILED;
		m->u.exit.err = c->exec_err;
		name = r->a->argv[0];
	} else if (WIFSIGNALED(c->wstatus)) {
		m->u.exit.how = SF_END_SIGNALED;
		m->u.exit.code = WTERMSIG(c->wstatus);
	} else {
		m->u.exit.how = SF_END_EXITED;
		m->u.exit.code = WEXITSTATUS(c->wstatus);
	}
	if (name != NULL) {
		n = strlen(name);
		if (n > SF_PROTO_MAX_NAME)
			n = SF_PROTO_MAX_NAME;
		memcpy(m->u.exit.name, name, n);
		m->u.exit.namelen = (uint8_t)n;
	}
}

/* ---- the result, stored --------------------------------------------------- */

/* Store the result in d, if it is one to store (cache.h, proto.h CACHE). */
static void
store(struct runner *r, const struct cache_dir *d)
{
	struct sf_cache_result res;
	const struct sf_msg *m = &r->exit;
	int s;

	if (m->u.exit.how != SF_END_EXITED || r->forgotten ||
	    (m->u.exit.code != 0 && !d->failures))
		return;
	for (s = 0; s < 3; s++) {
		res.spool[s] = r->out.spool[s];
		res.size[s] = r->out.size[s];
	}
	res.status = m->u.exit.code;
	res.started_ns = r->started_ns;
	res.ended_ns = r->ended_ns;
	res.key = (const uint8_t *)r->a->key_text;
	res.keylen = r->a->key_len;
	res.argv = r->a->argv;
	/* A full disk costs the cache its entry, never an invocation its
	 * output: the flight's spools are untouched. */
	(void)sf_cache_store(d->fd, r->a->key, &res, d->keep_ms);
}

static void
on_cache(void *arg, uint64_t keep_ms, uint8_t flags, int dirfd)
{
	struct runner *r = arg;
	struct cache_dir *d = NULL, one;
	struct stat st;
	int i;

	if (r->state == ABANDONED || fstat(dirfd, &st) == -1 || !S_ISDIR(st.st_mode)) {
		close(dirfd);
		return;
	}
	for (i = 0; i < r->ncache; i++)
		if (r->cache[i].dev == st.st_dev && r->cache[i].ino == st.st_ino)
			d = &r->cache[i];
	if (r->state == ENDED) {
		/* Late (it joined an ended flight): store now, before its
		 * EXIT, if it asks for more than was stored. */
		one = (struct cache_dir){ .fd = dirfd, .keep_ms = keep_ms,
		    .failures = (flags & SF_CACHE_FAILURES) != 0 };
		if (d == NULL || keep_ms > d->keep_ms ||
		    (one.failures && !d->failures))
			store(r, &one);
		close(dirfd);
		/* The fleet's copy too (it went with the end without this). */
		if (r->fleet.conf != NULL && r->exit.u.exit.how == SF_END_EXITED &&
		    !r->forgotten && (r->exit.u.exit.code == 0 || one.failures))
			sf_fleet_keep(&r->fleet, keep_ms);
		return;
	}
	if (d == NULL && r->ncache < CACHE_DIRS) {
		d = &r->cache[r->ncache++];
		*d = (struct cache_dir){ .fd = dirfd, .dev = st.st_dev,
		    .ino = st.st_ino };
		dirfd = -1;
	}
	if (dirfd != -1)
		close(dirfd);
	if (d == NULL)
		return;
	if (keep_ms > d->keep_ms)
		d->keep_ms = keep_ms;
	if (flags & SF_CACHE_FAILURES)
		d->failures = true;
}

static void
cache_free(struct runner *r)
{
	int i;

	for (i = 0; i < r->ncache; i++)
		close(r->cache[i].fd);
	r->ncache = 0;
}

/* ---- control clients (proto.h) ---------------------------------------------- */

static void
status(struct runner *r, struct sf_msg *m)
{
	m->type = SF_MSG_STATUS;
	if (r->state != RUNNING || r->cancelled)
		m->u.status.state = SF_STATE_STOPPING;
	else if (r->forgotten)
		m->u.status.state = SF_STATE_FORGOTTEN;
	else if (r->a->refresh)
		m->u.status.state = SF_STATE_REFRESHING;
	else
		m->u.status.state = SF_STATE_RUNNING;
	m->u.status.runner = (uint32_t)getpid();
	m->u.status.invocations = (uint32_t)sf_hub_attached(r->hub);
	m->u.status.started_ns = r->started_ns;
	m->u.status.size[0] = r->out.size[0];
	m->u.status.size[1] = r->out.size[1];
	if (r->state == ENDED) {
		m->u.status.flags |= SF_STATUS_ENDED;
		m->u.status.ended_ns = r->ended_ns;
		m->u.status.how = r->exit.u.exit.how;
		/* The errno of a failure says 126 or 127 (sfexec.c). */
		m->u.status.code = r->exit.u.exit.how == SF_END_EXITED ||
		    r->exit.u.exit.how == SF_END_SIGNALED ?
		    r->exit.u.exit.code : r->exit.u.exit.err;
	}
	if (r->a->key_text == NULL)
		m->u.status.flags |= SF_STATUS_DERIVED;
	else {
		m->u.status.key = (const uint8_t *)r->a->key_text;
		m->u.status.keylen = (uint16_t)r->a->key_len;
	}
	if (r->argv_cut)
		m->u.status.flags |= SF_STATUS_ARGV_CUT;
	m->u.status.argv = r->argv;
	m->u.status.argvlen = (uint16_t)r->argvlen;
}

/* FORGET, from a control client or from another host (fleet.h). */
static void
forget(struct runner *r)
{
	r->forgotten = true;
	close_door(r);
	sf_hub_stop(r->hub, false);
	release_key(r);
}

/* CANCEL, from a control client or from another host (fleet.h). */
static void
cancel(struct runner *r, long grace_ms)
{
	/* The key stays held until the command is gone (release_key at the
	 * end), so no second copy starts beside the dying one. */
	r->cancelled = r->forgotten = true;
	close_door(r);
	sf_hub_stop(r->hub, false);
	r->cmd.grace_ms = grace_ms;
	sf_command_abandon(&r->cmd);
}

static void
on_control(void *arg, const struct sf_msg *req, struct sf_msg *answer)
{
	struct runner *r = arg;
	bool running = r->state == RUNNING && !source_done(r);

	if (req->type == SF_MSG_QUERY) {
		status(r, answer);
		return;
	}
	answer->type = SF_MSG_DONE;
	if (req->type == SF_MSG_FORGET && running && !r->forgotten) {
		forget(r);
		answer->u.done.done = 1;
	} else if (req->type == SF_MSG_CANCEL && running && !r->cancelled &&
	    r->cmd.pid > 0) {
		/* (A follower has no command here to cancel.) */
		cancel(r, (long)req->u.cancel.grace_ms);
		answer->u.done.done = 1;
	}
}

/* How long the fleet keeps the result in Redis (fleet.h): as long as the
 * longest of the cache directories that store it here; 0: none does. */
static uint64_t
keep_ms(const struct runner *r)
{
	const struct sf_msg *m = &r->exit;
	uint64_t keep = 0;
	int i;

	if (m->u.exit.how != SF_END_EXITED || r->forgotten)
		return 0;
	for (i = 0; i < r->ncache; i++)
		if ((m->u.exit.code == 0 || r->cache[i].failures) &&
		    r->cache[i].keep_ms > keep)
			keep = r->cache[i].keep_ms;
	return keep;
}

/* The flight is over: EXIT to everyone, the key let go (see the top). */
static void
end_flight(struct runner *r)
{
	int i;

	r->state = ENDED;
	r->ended_ns = sf_cache_now();
	exit_msg(r, &r->exit);
	/* Stored before EXIT goes: an invocation that asked for it finds
	 * the entry once it has its status. */
	for (i = 0; i < r->ncache; i++)
		store(r, &r->cache[i]);
	sf_hub_end(r->hub, &r->exit);
	close_door(r);
	sf_hub_stop(r->hub, false);     /* the queued get EXIT too */
	release_key(r);
	if (r->fleet.conf != NULL && r->fleet.role == SF_FLEET_LEADER)
		sf_fleet_finish(&r->fleet, &r->exit, keep_ms(r));
}

static void
abandon(struct runner *r)
{
	r->state = ABANDONED;
	cache_free(r);
	close_door(r);
	sf_hub_stop(r->hub, true);
	if (following(r))
		sf_fleet_release(&r->fleet);
	else
		sf_command_abandon(&r->cmd);
}

/*
 * Nobody on this host reads the output any more.  A leader asks Redis
 * first (fleet.h, sf_fleet_abandon): followers on other hosts keep the
 * command alive, the last one out anywhere stops it.
 */
static void
nobody_here(struct runner *r)
{
	struct sf_fleet *f = &r->fleet;

	if (f->conf == NULL || f->role != SF_FLEET_LEADER || f->settled ||
	    f->abandoned) {
		abandon(r);
		return;
	}
	if (!f->abandoning && f->followers == 0)
		sf_fleet_abandon(f);
}

static void begin(struct runner *r);
static void __attribute__((noreturn)) early_end(const struct sf_runner_args *a,
    int lockfd, enum sf_end how, int e, const char *what);

/* After every turn of the loop: move the lifecycle on (see the top). */
static void
step(void *arg)
{
	struct runner *r = arg;
	bool fleet_busy = r->fleet.conf != NULL && !r->fleet.settled;

	if (r->state == ELECTING) {
		if (r->fleet.role == SF_FLEET_ELECTING)
			return;
		if (r->fleet.busy)  /* -n: for the one who asked only */
			early_end(r->a, r->lockfd, SF_END_BUSY, 0, r->fleet.notice);
		begin(r);   /* then on as RUNNING: nothing else may come */
	}
	switch (r->state) {
	case ELECTING:
		break;
	case RUNNING:
		if (source_done(r))
			end_flight(r);
		else if (r->fleet.lost && !r->fleet_stopped) {
			/* Another host may run it by now (fleet.h). */
			r->fleet_stopped = true;
			sf_command_abandon(&r->cmd);
		} else if (r->fleet.cancel && !r->cancelled && r->cmd.pid > 0) {
			cancel(r, r->fleet.cancel_ms);
		} else if (r->fleet.forgotten && !r->forgotten) {
			forget(r);
		} else if (sf_hub_clients(r->hub) == 0 && !r->cancelled &&
		    (!r->a->refresh || r->forgotten))
			nobody_here(r);
		break;
	case ENDED:
		if (sf_hub_idle(r->hub) && !fleet_busy)
			sf_loop_stop(r->loop);
		break;
	case ABANDONED:
		if (!following(r) && !sf_command_gone(&r->cmd))
			break;
		if (fleet_busy) {
			sf_fleet_release(&r->fleet);
			break;
		}
		release_key(r);
		sf_loop_stop(r->loop);
		break;
	}
}

/* ---- set-up ------------------------------------------------------------------ */

/*
 * The flight ends before it began, for the starter only: the runner tells
 * it how, in the frames it would have sent anyway, and leaves without a
 * trace (no socket, no lock file), so that an invocation that came
 * meanwhile starts afresh rather than share this end.
 */
static void __attribute__((noreturn))
early_end(const struct sf_runner_args *a, int lockfd, enum sf_end how, int e,
    const char *what)
{
	uint8_t buf[2 * SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	size_t len, n;
	ssize_t w;

	sf_unixsock_unlink(a->dirfd, a->sockname, &a->bound);
	unlinkat(a->dirfd, a->lockname, 0);     /* we hold its lock */
	close(lockfd);
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_WELCOME;
	m.u.welcome.version = SF_PROTO_VERSION;
	m.u.welcome.runner = (uint32_t)getpid();
	len = (size_t)sf_proto_encode(&m, buf, sizeof(buf));
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_EXIT;
	m.u.exit.how = how;
	m.u.exit.err = e;
	n = strnlen(what, SF_PROTO_MAX_NAME);
	memcpy(m.u.exit.name, what, n);
	m.u.exit.namelen = (uint8_t)n;
	len += (size_t)sf_proto_encode(&m, buf + len, sizeof(buf) - len);
	for (n = 0; n < len; n += (size_t)w)
		if ((w = send(a->starterfd, buf + n, len - n, MSG_NOSIGNAL)) <= 0)
			break;
	_exit(how == SF_END_BUSY ? 0 : 125);
}

/* The runner could not even set itself up (no descriptor for /dev/null,
 * its self-pipe, no memory). */
static void __attribute__((noreturn))
early_fail(const struct sf_runner_args *a, int lockfd, const char *what)
{
	early_end(a, lockfd, SF_END_FAILED, errno, what);
}

/* Handle a signal in the loop, remembering what the command gets back. */
static int
take_signal(struct runner *r, int sig, sf_loop_fn *fn)
{
	struct sf_command_restore *rs = &r->restore;
	struct sigaction ign;

	rs->sig[rs->n] = sig;
	if (fn != NULL)
		return sf_loop_signal(r->loop, sig, fn, r, &rs->act[rs->n++]);
	/* SIGPIPE, SIGXFSZ: EPIPE and EFBIG instead, never death. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	return sigaction(sig, &ign, &rs->act[rs->n++]);
}

/*
 * The flight's source is known (at once, or once the fleet's election is
 * over): start the command unless another host runs it, and open the hub.
 */
static void
begin(struct runner *r)
{
	const struct sf_runner_args *a = r->a;
	struct sf_hub_args ha;
	struct ucred cr;
	char fence[24];

	r->state = RUNNING;
	if (!following(r)) {
		if (r->fleet.conf != NULL && r->fleet.role == SF_FLEET_LEADER) {
			/* For the command to fence its own side effects. */
			snprintf(fence, sizeof(fence), "%" PRIu64, r->fleet.fence);
			if (setenv("SFEXEC_FENCING_TOKEN", fence, 1) == -1)
				early_fail(a, r->lockfd, "runner: environment");
		}
		r->cmd.loop = r->loop;
		r->cmd.out = &r->out;
		r->cmd.argv = a->argv;
		r->cmd.grace_ms = a->grace_ms;
		r->cmd.restore = &r->restore;
		r->cmd.stdinfd = a->stdinfd;
		r->cmd.grew = on_grew;
		r->cmd.ended = on_ended;
		r->cmd.stopped = on_stopped;
		r->cmd.arg = r;
		sf_command_start(&r->cmd);  /* a failure is told to the clients */
		if (r->termed && r->cmd.pid > 0)
			sf_command_abandon(&r->cmd);
	}
	/* Not before: the command's pipes come first under a tight limit. */
	(void)sf_output_reserve_order(&r->out);

	memset(&ha, 0, sizeof(ha));
	ha.loop = r->loop;
	ha.out = &r->out;
	memcpy(ha.digest, a->key->digest, SF_DIGEST_LEN);
	ha.listenfd = a->listenfd;
	ha.runner = (uint32_t)getpid();
	if (sf_unixsock_peer(a->starterfd, &cr) == 0)
		ha.starter = (uint32_t)cr.pid;
	ha.pgid = (uint32_t)(r->cmd.pid > 0 ? r->cmd.pid : 0);
	if (r->fleet.conf != NULL && (r->fleet.role == SF_FLEET_ALONE ||
	    r->fleet.role == SF_FLEET_FOLLOWER)) {
		ha.notice = r->fleet.notice;
		ha.notice_verbose = r->fleet.role == SF_FLEET_FOLLOWER;
	}
	ha.admit = admit;
	ha.cache = on_cache;
	ha.control = on_control;
	ha.arg = r;
	fcntl(a->listenfd, F_SETFL, O_NONBLOCK);
	fcntl(a->starterfd, F_SETFL, O_NONBLOCK);
	/* A refresh's starter does not attach: it asks here what a client
	 * asks with CACHE. */
	if (a->cachefd != -1)
		on_cache(r, a->cache_keep_ms, a->cache_failures ?
		    SF_CACHE_FAILURES : 0, a->cachefd);
	if ((r->hub = sf_hub_new(&ha)) == NULL ||
	    sf_hub_add(r->hub, a->starterfd) == -1) {
		/* The command may run already: it must not outlive us. */
		if (r->cmd.pid > 0)
			kill(-r->cmd.pid, SIGKILL);
		early_fail(a, r->lockfd, "runner");
	}

	/* The command has its stdin; the runner lets go of it and of the
	 * working directory (so it never holds a file system busy). */
	if (a->stdinfd != -1)
		close(a->stdinfd);
	dup2(r->devnull, 0);
	close(r->devnull);
	r->devnull = -1;
	(void)!chdir("/");
}

static void __attribute__((noreturn))
runner_main(const struct sf_runner_args *a)
{
	struct runner r;
	struct rlimit rl;
	sigset_t none;
	int keep[7], nkeep, devnull;

	memset(&r, 0, sizeof(r));
	r.a = a;
	r.lockfd = a->lockfd;
	r.started_ns = sf_cache_now();
	r.argvlen = sf_proto_pack_argv(a->argv, r.argv, sizeof(r.argv),
	    &r.argv_cut);
	keep[0] = a->dirfd;
	keep[1] = a->listenfd;
	keep[2] = a->starterfd;
	keep[3] = a->lockfd;
	nkeep = 4;
	if (a->stdinfd != -1)
		keep[nkeep++] = a->stdinfd;
	if (a->cachefd != -1)
		keep[nkeep++] = a->cachefd;
	close_others(keep, nkeep);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull == -1)
		early_fail(a, r.lockfd, "runner: /dev/null");
	/* Never hold the starter's stdout or stderr: a pipe reader waiting
	 * for end of file must not wait for the runner. */
	dup2(devnull, 1);
	dup2(devnull, 2);

	/* The starter's election is over: only the flight lock is ours. */
	flock(a->lockfd, LOCK_UN);

	r.restore.mask = saved_mask;
	getrlimit(RLIMIT_NOFILE, &r.restore.nofile);
	rl = r.restore.nofile;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	if ((r.loop = sf_loop_new()) == NULL)
		early_fail(a, r.lockfd, "runner: self-pipe");
	if (take_signal(&r, SIGCHLD, on_child) == -1 ||
	    take_signal(&r, SIGTERM, on_term) == -1 ||
	    take_signal(&r, SIGINT, on_term) == -1 ||
	    take_signal(&r, SIGHUP, on_term) == -1 ||
	    take_signal(&r, SIGPIPE, NULL) == -1 ||
	    take_signal(&r, SIGXFSZ, NULL) == -1)
		early_fail(a, r.lockfd, "runner: signals");
	if (sf_output_init(&r.out, a->dirfd) == -1)
		early_fail(a, r.lockfd, "runner: descriptors");
	if (sf_nest_mark(a->dirfd, a->sockname) == -1)
		early_fail(a, r.lockfd, "runner: environment");

	r.devnull = devnull;
	if (a->fleet != NULL) {
		/* hiredis's buffers come and go by the megabyte: kept in the
		 * heap rather than mapped and unmapped each time (page faults
		 * were a tenth of a fan-out's time). */
		mallopt(M_MMAP_THRESHOLD, 4 << 20);
		mallopt(M_TRIM_THRESHOLD, 8 << 20);
		/* The command waits for the election (begin, from step). */
		r.fleet.loop = r.loop;
		r.fleet.conf = a->fleet;
		r.fleet.name = a->key->name;
		r.fleet.out = &r.out;
		r.fleet.grew = on_fleet_grew;
		r.fleet.arg = &r;
		r.fleet.argv = r.argv;
		r.fleet.argvlen = r.argvlen;
		r.fleet.argv_cut = r.argv_cut != 0;
		r.fleet.started_ns = r.started_ns;
		r.state = ELECTING;
		if (sf_fleet_start(&r.fleet) == -1)
			early_fail(a, r.lockfd, "runner: Redis");
		if (r.fleet.role != SF_FLEET_ELECTING)
			begin(&r);  /* decided at once: Redis is not there */
	} else
		begin(&r);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* What begin found may call for a step before any event does (a
	 * fleet that failed at once, a command that could not start). */
	step(&r);
	sf_loop_run(r.loop, step, &r);
	remove_door(&r);
	sf_fleet_free(&r.fleet);
	_exit(0);
}

int
sf_runner_spawn(const struct sf_runner_args *a)
{
	sigset_t all;
	pid_t pid;
	int saved;

	/* Signals stay blocked in the runner until its handlers are in place;
	 * saved_mask (the starter's) is what the command will get. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &saved_mask);
	pid = fork();
	if (pid == 0) {
		/* A session of its own: no terminal's or process group's
		 * signals reach it, and it never acquires a terminal (it opens
		 * none).  One fork, not two: the starter does not wait for it. */
		setsid();
		runner_main(a);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	errno = saved;
	return pid == -1 ? -1 : 0;
}
