/* client.c — attach to a runner and stream its spools; see client.h. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/kcmp.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "cache.h"
#include "client.h"
#include "clock.h"
#include "spool.h"
#include "unixsock.h"


/*
 * Read more bytes from the runner into f->in, queueing the descriptors that
 * come along for the SPOOL frames they belong to (a descriptor arrives with
 * the first byte of its frame, so it is queued by the time the frame has
 * been decoded).  More than three unclaimed descriptors are a protocol error:
 * they are closed, never kept.  Returns bytes read, 0 at end of file, -1 with
 * errno (EMFILE when a descriptor could not be installed: our limit).
 */
static ssize_t
fill(sf_flight *f)
{
	int fds[8], nfds, extra, lost, i;
	pid_t sender = 0;
	ssize_t n;

	n = sf_unixsock_recv(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen,
	    fds, 8, &nfds, &extra, &lost, &sender);
	if (f->runner == 0 && sender > 0)
		f->runner = sender;     /* whoever sent WELCOME */
	if (n == -1)
		return -1;
	for (i = 0; i < nfds; i++)
		if (f->nfdq < 3)
			f->fdq[f->nfdq++] = fds[i];
		else {
			close(fds[i]);
			extra = 1;
		}
	/* A lost descriptor cannot be asked for again: this is final, and it
	 * is our descriptor limit, not the runner's fault. */
	if (lost || extra) {
		errno = lost ? EMFILE : EPROTO;
		return -1;
	}
	f->inlen += (size_t)n;
	return n;
}

/* Remove one decoded frame of len bytes from the front of f->in. */
static void
consume(sf_flight *f, int len)
{
	memmove(f->in, f->in + len, f->inlen - (size_t)len);
	f->inlen -= (size_t)len;
}

/* Does pid (a pid in our namespace) live in our PID namespace too? */
static bool
same_pidns(pid_t pid)
{
	char path[64], ours[64], theirs[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%ld/ns/pid", (long)pid);
	a = readlink("/proc/self/ns/pid", ours, sizeof(ours));
	b = readlink(path, theirs, sizeof(theirs));
	return a > 0 && a == b && memcmp(ours, theirs, (size_t)a) == 0;
}

/*
 * Are a and b one open file description (a `2>&1`)?  kcmp(2) says so
 * exactly.  Where it is missing (a kernel without CONFIG_KCMP, a seccomp
 * filter), one file that is not a regular file is taken for one: a pipe, a
 * terminal, a socket.  Two opens of one regular file (`>log 2>log`) keep
 * an offset each, and each stream goes on writing through its own.
 */
static bool
one_description(int a, int b)
{
	struct stat sa, sb;
	pid_t self = getpid();
	long r;

	if (a == b)
		return true;
	r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
	if (r >= 0)
		return r == 0;
	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
	    !S_ISREG(sa.st_mode);
}

sf_flight *
sf_client_new(int fd, enum sf_role role, long long deadline)
{
	sf_flight *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->fd = fd;
	f->spool[0] = f->spool[1] = -1;
	f->role = role;
	f->deadline = deadline;
	f->relay = f->tty = -1;
	sf_order_init(&f->order);
	return f;
}

/* Ask the runner to store the result (proto.h, CACHE). */
static int
ask_cache(int fd, const struct sf_opts *o)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	int len;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_CACHE;
	m.u.cache.keep_ms = o->cache_keep_ms;
	m.u.cache.flags = o->cache_failures ? SF_CACHE_FAILURES : 0;
	len = sf_proto_encode(&m, buf, sizeof(buf));
	/* Ten bytes into an empty socket buffer: they go in one piece. */
	return sf_unixsock_send_fd(fd, buf, (size_t)len, o->cachefd) == len ? 0 : -1;
}

sf_flight *
sf_client_hello(int fd, const struct sf_opts *o, enum sf_role role,
    long long deadline, char *cause, size_t causelen)
{
	const struct sf_key *key = &o->key;
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sf_msg m;
	sf_flight *f;
	int len, saved, r;
	ssize_t n;

	if ((f = sf_client_new(fd, role, deadline)) == NULL) {
		close(fd);
		return NULL;
	}
	sf_unixsock_pass_creds(fd);
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_HELLO;
	m.u.hello.version = SF_PROTO_VERSION;
	/* Only an invocation that writes both streams through one output
	 * needs to know how they interleave (sf_flight_stream). */
	if (one_description(STDOUT_FILENO, STDERR_FILENO)) {
		m.u.hello.flags = SF_HELLO_ORDER;
		f->order_asked = true;
	}
	if (o->cache_keep_ms > 0)
		m.u.hello.flags |= SF_HELLO_CACHE;
	memcpy(m.u.hello.digest, key->digest, SF_DIGEST_LEN);
	len = sf_proto_encode(&m, buf, sizeof(buf));
	/* A runner that closed on us may have said why first (a runner that
	 * failed at start sends WELCOME and EXIT, runner.c): read on, and its
	 * end of file is ECONNRESET below (the flight was ending). */
	if (sf_unixsock_send_all(fd, buf, (size_t)len) == -1 && errno != EPIPE &&
	    errno != ECONNRESET) {
		saved = errno;
		goto fail;
	}
	for (;;) {
		len = sf_proto_decode(f->in, f->inlen, &m);
		if (len > 0)
			break;
		if (len < 0) {
			snprintf(cause, causelen, "garbled answer from the flight's runner");
			saved = EPROTO;
			goto fail;
		}
		/* A stopped or stuck runner never answers: -w bounds the wait. */
		r = poll(&p, 1, sf_clock_left(deadline));
		if (r == -1 && errno == EINTR && !sf_clock_passed(deadline))
			continue;
		if (r <= 0) {
			snprintf(cause, causelen, "no answer from the flight's runner");
			saved = r == 0 || errno == EINTR ? ETIMEDOUT : errno;
			goto fail;
		}
		n = fill(f);
		if (n == -1 && errno == EMFILE)
			snprintf(cause, causelen, "cannot receive the output spool: %s",
			    strerror(EMFILE));
		if (n <= 0) {
			saved = n == 0 ? ECONNRESET : errno;
			goto fail;
		}
	}
	if (m.type == SF_MSG_REFUSE) {
		if (m.u.refuse.reason == SF_REFUSE_NESTED) {
			snprintf(cause, causelen, "recursive call: this command runs "
			    "inside the flight of its own key");
			saved = ELOOP;
			goto fail;
		}
		snprintf(cause, causelen, "%s", m.u.refuse.reason == SF_REFUSE_VERSION ?
		    "the running flight speaks another protocol version" :
		    "the running flight has another key with the same hash");
		saved = EPROTO;
		goto fail;
	}
	if (m.type != SF_MSG_WELCOME) {
		snprintf(cause, causelen, "unexpected answer from the flight's runner");
		saved = EPROTO;
		goto fail;
	}
	memcpy(f->notice, m.u.welcome.notice, sizeof(f->notice));
	f->notice_verbose = (m.u.welcome.flags & SF_WELCOME_VERBOSE) != 0;
	consume(f, len);
	/* Not sent (the runner failed at start, or died): the stream that
	 * follows says what became of the flight. */
	if (o->cache_keep_ms > 0)
		(void)ask_cache(fd, o);
	/* Numbers in a peer's bytes mean something only in the peer's PID
	 * namespace; the kernel translated the runner's pid for us (fill). */
	if (f->runner > 0 && (uint32_t)f->runner == m.u.welcome.runner &&
	    same_pidns(f->runner)) {
		f->starter = (pid_t)m.u.welcome.starter;
		f->pgid = (pid_t)m.u.welcome.pgid;
	}
	return f;
fail:
	sf_flight_close(f);
	errno = saved;
	return NULL;
}

enum sf_role sf_flight_role(const sf_flight *f) { return f->role; }
pid_t sf_flight_runner(const sf_flight *f) { return f->runner; }
pid_t sf_flight_starter(const sf_flight *f) { return f->starter; }
long long sf_flight_age(const sf_flight *f) { return f->age; }
const char *
sf_flight_notice(const sf_flight *f, bool verbose)
{
	return f->notice_verbose && !verbose ? "" : f->notice;
}

void
sf_flight_on_note(sf_flight *f, sf_flight_note_fn *fn, void *arg)
{
	f->note = fn;
	f->note_arg = arg;
}

/*
 * The runner died: SIGKILL what is left of its command's process group.
 * Only a group number that means the same in our PID namespace (client_hello
 * checked) is used, and only while the group exists; if its leader is still
 * there, it must be in the runner's session, as the command's is.  The
 * number of a group is not reused while it has a member, so a group found
 * this way is the command's.
 */
static void
kill_orphans(const sf_flight *f)
{
	char path[64], buf[512], *p;
	long sid;
	int fd;
	ssize_t n;

	if (f->pgid <= 1 || f->runner <= 1)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)f->pgid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = '\0';
		/* "pid (comm) state ppid pgrp session ...": comm may hold
		 * anything but ends at the last ')'. */
		if ((p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 1, " %*c %*d %*d %ld", &sid) != 1 || sid != f->runner)
			return;
	}
	if (kill(-f->pgid, 0) == 0)
		kill(-f->pgid, SIGKILL);
}

/* Returns 0 copied, 1 the deadline passed first, -1 failed (cause set). */
static int
copy_to(sf_flight *f, int s, uint64_t end, int out, char *cause, size_t causelen)
{
	int saved;

	if (end > f->off[s] && f->spool[s] == -1) {
		snprintf(cause, causelen, "flight's runner announced %s before its spool",
		    s == 0 ? "stdout" : "stderr");
		errno = EPROTO;
		return -1;
	}
	if (sf_spool_copy(f->spool[s], &f->off[s], end, out, f->deadline) == 0)
		return 0;
	saved = errno;
	if (saved == ETIMEDOUT)
		return 1;
	snprintf(cause, causelen, saved == EIO ? "%s spool is shorter than announced" :
	    "write error on %s", s == 0 ? "stdout" : "stderr");
	errno = saved;
	return -1;
}

/* ---- taking the runner's frames --------------------------------------------- */

/* What take() makes of a frame, beyond copy_to's 0, 1 and -1. */
enum { TAKE_END = 2, TAKE_GARBLED = 3 };

/* Both streams through out, as far as the order index places them. */
static int
replay(sf_flight *f, int out, char *cause, size_t causelen)
{
	uint64_t upto;
	int s, rc, r;

	while ((r = sf_order_next(&f->order, f->off, f->told, &s, &upto)) > 0)
		if ((rc = copy_to(f, s, upto, out, cause, causelen)) != 0)
			return rc;
	if (r == -1) {
		snprintf(cause, causelen, "%s", errno == EPROTO ?
		    "garbled order index from the flight's runner" :
		    errno == EIO ? "order index is shorter than announced" :
		    "cannot read the order index");
		return -1;
	}
	return 0;
}

/* The index grew to end (DATA or EXIT). */
static int
order_grew(sf_flight *f, uint64_t end, char *cause, size_t causelen)
{
	if (end > 0 && f->order.fd == -1) {
		snprintf(cause, causelen, "flight's runner announced the order "
		    "index before its spool");
		errno = EPROTO;
		return -1;
	}
	if (end > f->order.end)
		f->order.end = end;
	return 0;
}

/*
 * Act on one frame from the runner: 0 go on, TAKE_END the flight ended (*oc
 * filled), TAKE_GARBLED a frame that has no place here, 1 the deadline
 * passed while writing, -1 failed (cause set).  merged: out and err are one
 * output, which gets both streams in the order index's order.
 */
static int
take(sf_flight *f, const struct sf_msg *m, int out, int err, bool merged,
    struct sf_outcome *oc, char *cause, size_t causelen)
{
	int s, rc, *fdp;

	switch (m->type) {
	case SF_MSG_SPOOL:
		s = m->u.spool.stream - 1;
		fdp = m->u.spool.stream == SF_ORDER ? &f->order.fd : &f->spool[s];
		if ((m->u.spool.stream == SF_ORDER && !f->order_asked) ||
		    *fdp != -1 || f->nfdq == 0)
			return TAKE_GARBLED;
		*fdp = f->fdq[0];
		f->fdq[0] = f->fdq[1];
		f->fdq[1] = f->fdq[2];
		f->nfdq--;
		return 0;
	case SF_MSG_DATA:
		if (m->u.data.stream == SF_ORDER) {
			if (!f->order_asked)
				return TAKE_GARBLED;
			if (order_grew(f, m->u.data.end, cause, causelen) == -1)
				return -1;
			return merged ? replay(f, out, cause, causelen) : 0;
		}
		s = m->u.data.stream - 1;
		if (m->u.data.end > f->told[s])
			f->told[s] = m->u.data.end;
		if (merged)
			return replay(f, out, cause, causelen);
		return copy_to(f, s, m->u.data.end, s == 0 ? out : err,
		    cause, causelen);
	case SF_MSG_NOTE:
		if (f->note != NULL)
			f->note(f->note_arg, m->u.note.what, m->u.note.sig);
		return 0;
	case SF_MSG_EXIT:
		if (merged) {
			f->told[0] = m->u.exit.size[0];
			f->told[1] = m->u.exit.size[1];
			if (order_grew(f, m->u.exit.size[2], cause, causelen) == -1 ||
			    (rc = replay(f, out, cause, causelen)) == -1)
				return -1;
			if (rc != 0)
				return rc;
		}
		/* All of it (merged: what the index did not place, which is
		 * nothing unless the flight failed). */
		if ((rc = copy_to(f, 0, m->u.exit.size[0], out, cause, causelen)) != 0 ||
		    (rc = copy_to(f, 1, m->u.exit.size[1], merged ? out : err,
		    cause, causelen)) != 0)
			return rc;
		oc->how = m->u.exit.how;
		oc->code = m->u.exit.code;
		oc->err = m->u.exit.err;
		memcpy(oc->name, m->u.exit.name, sizeof(oc->name));
		return TAKE_END;
	default:
		return TAKE_GARBLED;
	}
}

/* ---- the terminal relay ------------------------------------------------------
 *
 * The starter on a terminal lends it to the command (flight.c): what is
 * typed goes down a pipe to the command while the starter is attached, and
 * end of file follows when it leaves.  The terminal is read through a
 * descriptor of our own (O_NONBLOCK there changes nothing for the shell),
 * and only while our process group is the terminal's foreground: a
 * background sfexec neither steals keystrokes nor stops on SIGTTIN.
 */

/* How often a background starter looks whether it is in the foreground. */
#define FOREGROUND_POLL_MS 200

static void
stop_relay(sf_flight *f)
{
	if (f->relay != -1)
		close(f->relay);
	if (f->tty != -1)
		close(f->tty);
	f->relay = f->tty = -1;
}

static bool
foreground(const sf_flight *f)
{
	return tcgetpgrp(f->tty) == getpgrp();
}

/*
 * write(2) to the relay without dying of SIGPIPE when the command has closed
 * its stdin (EPIPE instead): the signal is blocked for the call and, if the
 * call raised it, taken back, so the caller's signal state is unchanged.
 */
static ssize_t
write_quietly(int fd, const void *buf, size_t len)
{
	static const struct timespec zero;
	sigset_t pipe, old, pending;
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	n = write(fd, buf, len);
	saved = errno;
	if (n == -1 && saved == EPIPE && !was_pending)
		while (sigtimedwait(&pipe, NULL, &zero) == -1 && errno == EINTR)
			;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

/* Move typed bytes on; the relay ends at end of file or on any error. */
static void
relay(sf_flight *f, short tty_ev, short relay_ev)
{
	ssize_t n;

	if ((tty_ev & (POLLIN | POLLHUP | POLLERR)) && f->rlen == 0) {
		n = read(f->tty, f->rbuf, sizeof(f->rbuf));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			stop_relay(f);  /* ^D, or the terminal is gone */
			return;
		}
		if (n > 0) {
			f->rlen = (size_t)n;
			f->roff = 0;
		}
	}
	if (f->rlen > 0 && (relay_ev & (POLLOUT | POLLERR | POLLHUP) || tty_ev)) {
		n = write_quietly(f->relay, f->rbuf + f->roff, f->rlen - f->roff);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			stop_relay(f);  /* the command closed its stdin */
			return;
		}
		if (n > 0 && (f->roff += (size_t)n) == f->rlen)
			f->rlen = f->roff = 0;
	}
}

static void
start_relay(sf_flight *f)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", STDIN_FILENO);
	f->tty = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (f->tty == -1 && ttyname(STDIN_FILENO) != NULL)
		f->tty = open(ttyname(STDIN_FILENO), O_RDONLY | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	if (f->tty == -1 || fcntl(f->relay, F_SETFL, O_NONBLOCK) == -1)
		stop_relay(f);
}

/*
 * Wait until the runner's connection is readable (1), the deadline passes
 * (0), or poll fails (-1), serving the terminal relay meanwhile.
 */
static int
wait_runner(sf_flight *f)
{
	struct pollfd p[3];
	int n, r, wait, fg;

	if (f->relay != -1 && f->tty == -1)
		start_relay(f);
	for (;;) {
		p[0] = (struct pollfd){ .fd = f->fd, .events = POLLIN };
		n = 1;
		wait = sf_clock_left(f->deadline);
		fg = 0;
		if (f->relay != -1) {
			fg = foreground(f);
			p[1] = (struct pollfd){ .fd = fg && f->rlen == 0 ? f->tty : -1,
			    .events = POLLIN };
			p[2] = (struct pollfd){ .fd = f->rlen > 0 ? f->relay : -1,
			    .events = POLLOUT };
			n = 3;
			if (!fg && (wait == -1 || wait > FOREGROUND_POLL_MS))
				wait = FOREGROUND_POLL_MS;
		}
		r = poll(p, (nfds_t)n, wait);
		if (r == 0 && !sf_clock_passed(f->deadline))
			continue;       /* only a look at the foreground */
		if (r <= 0)
			return r;
		if (n == 3 && (p[1].revents || p[2].revents))
			relay(f, p[1].revents, p[2].revents);
		if (p[0].revents)
			return 1;
	}
}

int
sf_flight_stream(sf_flight *f, int out, int err,
    struct sf_outcome *oc, char *cause, size_t causelen)
{
	struct sf_msg m;
	bool merged = f->order_asked && one_description(out, err);
	int len, r, rc;
	ssize_t n;

	memset(oc, 0, sizeof(*oc));
	for (;;) {
		while ((len = sf_proto_decode(f->in, f->inlen, &m)) > 0) {
			consume(f, len);
			rc = take(f, &m, out, err, merged, oc, cause, causelen);
			if (rc == TAKE_END)
				return 0;
			if (rc == TAKE_GARBLED)
				goto garbled;
			if (rc != 0)
				goto copied;
		}
		if (len < 0)
			goto garbled;
		r = wait_runner(f);
		if (r == -1 && errno == EINTR && !sf_clock_passed(f->deadline))
			continue;
		if (r == 0 || (r == -1 && errno == EINTR)) {
			oc->how = SF_END_TIMEOUT;
			return 0;
		}
		n = r == -1 ? -1 : fill(f);
		if (n == -1 && errno == EPROTO)
			goto garbled;
		if (n == -1 && errno == EMFILE) {
			snprintf(cause, causelen, "cannot receive the output spool");
			return -1;
		}
		if (n > 0)
			continue;
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* The runner is gone without saying how the flight ended.  Its
		 * command dies with it (a parent-death signal); the rest of its
		 * process group gets one from us, if we can tell it is still
		 * the command's (kill_orphans). */
		kill_orphans(f);
		oc->how = SF_END_OWNER_DIED;
		return 0;
	}
copied:
	if (rc == 1) {
		oc->how = SF_END_TIMEOUT;   /* blocked on out or err */
		return 0;
	}
	return -1;
garbled:
	snprintf(cause, causelen, "garbled message from the flight's runner (pid %ld)",
	    (long)f->runner);
	errno = EPROTO;
	return -1;
}

/* ---- a stored result --------------------------------------------------------- */

sf_flight *
sf_flight_cached(int cachefd, const struct sf_key *key, long long ttl_ms,
    long timeout_ms)
{
	struct sf_cache_entry e;
	struct sf_msg m;
	sf_flight *f;
	int64_t age;
	int len;

	if (sf_cache_lookup(cachefd, key, &e) != 1) {
		errno = ENOENT;
		return NULL;
	}
	age = sf_cache_now() - e.ended_ns;      /* >= 0: see sf_cache_lookup */
	if (age >= (int64_t)ttl_ms * 1000000) {
		sf_cache_entry_close(&e);
		errno = ENOENT;
		return NULL;
	}
	f = sf_client_new(-1, SF_REPLAYED, timeout_ms < 0 ? -1 :
	    sf_clock_ms() + timeout_ms);
	if (f == NULL) {
		sf_cache_entry_close(&e);
		return NULL;
	}
	/*
	 * A flight that has ended, as its runner would tell it: the spools
	 * and the order index, then EXIT with the final sizes, which
	 * sf_flight_stream replays as it would a live flight's.
	 */
	f->spool[0] = e.fd[0];
	f->spool[1] = e.fd[1];
	f->order.fd = e.fd[2];
	f->order_asked = true;
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_EXIT;
	m.u.exit.how = SF_END_EXITED;
	m.u.exit.code = e.status;
	m.u.exit.size[0] = e.size[0];
	m.u.exit.size[1] = e.size[1];
	m.u.exit.size[2] = e.size[2];
	len = sf_proto_encode(&m, f->in, sizeof(f->in));
	f->inlen = len > 0 ? (size_t)len : 0;
	f->age = age / 1000000;
	return f;
}

void
sf_flight_close(sf_flight *f)
{
	if (f == NULL)
		return;
	close(f->fd);
	if (f->spool[0] != -1)
		close(f->spool[0]);
	if (f->spool[1] != -1)
		close(f->spool[1]);
	if (f->order.fd != -1)
		close(f->order.fd);
	while (f->nfdq > 0)
		close(f->fdq[--f->nfdq]);
	stop_relay(f);
	free(f);
}
