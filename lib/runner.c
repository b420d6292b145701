/*
 * runner.c — the process that owns a flight: the command, its output, its
 * clients.  See runner.h for its place and proto.h for what it says.
 *
 * One thread, one poll(2) loop.  Signal handlers only write the signal
 * number to a self-pipe; the loop does the work.  Every client socket is
 * non-blocking and its pending output is one small frame buffer, refilled
 * from the spool sizes only when it is empty, so a slow client costs a
 * constant amount of memory and never stalls the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "spool.h"

#define HELLO_TIMEOUT_MS 5000   /* a connection must say HELLO by then */
/*
 * After EXIT, the runner keeps a client's connection until the client hangs
 * up, for this long at most.  Whoever closes a spool last frees its pages
 * (0.15 s for 1 GiB of tmpfs here), and that should be the runner, which
 * nobody waits for, not an invocation about to exit.
 */
#define LINGER_MS        5000
#define PIPE_SIZE        (1 << 20)
/* What one read of a pipe may take into the spool: a quarter of the pipe,
 * so the command can go on writing the rest while the runner copies. */
static unsigned char fill_buf[PIPE_SIZE / 4];
/*
 * Batching.  A stream that just delivered BULK bytes or more is busy: it is
 * read again only BATCH_US later, so a bulk writer fills the pipe in big
 * steps and the runner and every client wake once per step instead of once
 * per write.  A quiet stream (a line now and then) is read at once, so a
 * line reaches the clients without delay; a busy one waits at most BATCH_US.
 * A stream that delivered half a pipe or more is read again at once: its
 * writer outruns the delay and would only block on a full pipe.
 */
#define BATCH_US         500
#define BULK             4096
/* Connections that have not said HELLO yet hold no more than this many
 * descriptors and buffers; the rest wait in the listen queue. */
#define MAX_PENDING      256

enum cstate { C_HELLO, C_LIVE };

struct client {
	int fd;                     /* -1 once dropped, until swept */
	enum cstate state;
	long long deadline;         /* C_HELLO, exit_sent: when to give up on it */
	uint64_t sent[2];           /* ends announced so far */
	bool spool_sent[2];         /* SPOOL (with its descriptor) sent */
	bool exit_sent;
	size_t inlen;
	uint8_t in[SF_PROTO_MAX_FRAME];
	size_t outoff, outlen;
	uint8_t out[3 * SF_PROTO_MAX_FRAME];
};

struct runner {
	const struct sf_runner_args *a;
	int lockfd, listenfd, sigpipe[2];
	int pipes[2];               /* read ends of the command's stdout, stderr */
	int spool[2], reader[2];
	int reserve[2][2];          /* placeholders given up to make stream s's spool */
	uint64_t size[2];
	long long next_read[2];     /* a busy stream is not read before this */
	int execfd;                 /* the child reports execvp's errno here */
	pid_t pid, pgid, starter;
	bool reaped;
	int wstatus;
	int exec_err;               /* errno of a failed exec, 0 if none */
	int fail_err;               /* the runner's own failure, 0 if none */
	const char *fail_what;
	bool ended, abandoned;
	bool accepting;             /* the socket's name is ours: joiners come */
	bool drained;               /* no connection left queued on the listener */
	bool accept_paused;         /* out of descriptors: wait for a client to go */
	long long kill_at;          /* SIGKILL the group then (0: not set) */
	bool term_sent, kill_sent;
	struct client **c;
	size_t nc, cap;
};

static int flush(struct runner *r, struct client *c);

/* Has the client a deadline: HELLO not said yet, or told everything? */
static bool
timed(const struct client *c)
{
	return c->state == C_HELLO || c->exit_sent;
}

/* What the command must get back: the starter's signal state and limits. */
static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGXFSZ };
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))
static struct sigaction saved_act[NHANDLED];
static sigset_t saved_mask;
static struct rlimit saved_nofile;
static int sigpipe_w = -1;

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(sigpipe_w, &b, 1);
	errno = saved;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

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

/* ---- the command ---------------------------------------------------------- */

static void
child_exec(struct runner *r, int out_w, int err_w, int exec_w)
{
	size_t i;
	int e;

	/* As if the starter had run the command itself: its dispositions,
	 * mask and descriptor limit; only stdin, stdout, stderr open. */
	for (i = 0; i < NHANDLED; i++)
		sigaction(handled[i], &saved_act[i], NULL);
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
	setpgid(0, 0);
	/* If the runner dies, so does the command (clients kill the rest of
	 * its process group when they see the runner gone). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(125);
	if (dup2(out_w, 1) == -1 || dup2(err_w, 2) == -1)
		goto fail;
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	execvp(r->a->argv[0], r->a->argv);
fail:
	e = errno;
	(void)!write(exec_w, &e, sizeof(e));
	_exit(127);
}

static int
start_command(struct runner *r)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, ex[2] = { -1, -1 };
	sigset_t all, old;
	int i, saved;

	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    pipe2(ex, O_CLOEXEC) == -1) {
		r->fail_what = "pipe";
		goto fail;
	}
	/* vfork: the runner is paused until the exec, and no page tables are
	 * copied; the child only makes system calls on its own behalf and
	 * writes nothing of ours (errno aside) before exec or _exit. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	r->pid = vfork();
	if (r->pid == 0)
		child_exec(r, out[1], err[1], ex[1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r->pid == -1) {
		errno = saved;
		r->fail_what = "fork";
		goto fail;
	}
	/* Also here, so kill(-pgid) works even before the child runs. */
	setpgid(r->pid, r->pid);
	r->pgid = r->pid;
	close(out[1]);
	close(err[1]);
	close(ex[1]);
	r->pipes[0] = out[0];
	r->pipes[1] = err[0];
	r->execfd = ex[0];
	for (i = 0; i < 2; i++) {
		fcntl(r->pipes[i], F_SETPIPE_SZ, PIPE_SIZE);
		set_nonblock(r->pipes[i]);
	}
	return 0;
fail:
	saved = errno;
	for (i = 0; i < 2; i++) {
		if (out[i] != -1) close(out[i]);
		if (err[i] != -1) close(err[i]);
		if (ex[i] != -1) close(ex[i]);
	}
	r->fail_err = saved;
	return -1;
}

static void
terminate(struct runner *r)
{
	if (r->pgid <= 0 || r->term_sent)
		return;
	kill(-r->pgid, SIGTERM);
	r->term_sent = true;
	r->kill_at = now_us() + r->a->grace_ms * 1000;
}

static void
reap(struct runner *r)
{
	pid_t p;
	int st;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == r->pid) {
			r->reaped = true;
			r->wstatus = st;
		}
}

static void
read_exec_report(struct runner *r)
{
	int e;
	ssize_t n;

	do
		n = read(r->execfd, &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)sizeof(e))
		r->exec_err = e;
	close(r->execfd);
	r->execfd = -1;
}

/* ---- clients --------------------------------------------------------------- */

/* Drop a client: close it now, free it at the next sweep, so that indices
 * stay valid while the loop walks the clients. */
static void
drop(struct runner *r, size_t i)
{
	if (r->c[i]->fd == -1)
		return;
	close(r->c[i]->fd);
	r->c[i]->fd = -1;
	r->accept_paused = false;   /* a descriptor is free again */
}

static void
sweep(struct runner *r)
{
	size_t i, j;

	for (i = j = 0; i < r->nc; i++)
		if (r->c[i]->fd == -1)
			free(r->c[i]);
		else
			r->c[j++] = r->c[i];
	r->nc = j;
}

/* Push what every live client is owed. */
static void
flush_all(struct runner *r)
{
	size_t i;

	for (i = 0; i < r->nc; i++)
		if (r->c[i]->fd != -1 && flush(r, r->c[i]) == -1)
			drop(r, i);
}

static int
add_client(struct runner *r, int fd)
{
	struct client *c;

	if (r->nc == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct client **n = realloc(r->c, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		r->c = n;
		r->cap = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->fd = fd;
	c->state = C_HELLO;
	c->deadline = now_us() + HELLO_TIMEOUT_MS * 1000LL;
	r->c[r->nc++] = c;
	return 0;
}

static void
end_msg(struct runner *r, struct sf_msg *m)
{
	const char *name = NULL;
	size_t n;

	memset(m, 0, sizeof(*m));
	m->type = SF_MSG_EXIT;
	m->u.exit.size[0] = r->size[0];
	m->u.exit.size[1] = r->size[1];
	if (r->fail_err != 0) {
		m->u.exit.how = SF_END_FAILED;
		m->u.exit.err = r->fail_err;
		name = r->fail_what;
	} else if (r->exec_err != 0) {
		m->u.exit.how = SF_END_EXEC_FAILED;
		m->u.exit.err = r->exec_err;
		name = r->a->argv[0];
	} else if (WIFSIGNALED(r->wstatus)) {
		m->u.exit.how = SF_END_SIGNALED;
		m->u.exit.code = WTERMSIG(r->wstatus);
	} else {
		m->u.exit.how = SF_END_EXITED;
		m->u.exit.code = WEXITSTATUS(r->wstatus);
	}
	if (name != NULL) {
		n = strlen(name);
		if (n > SF_PROTO_MAX_NAME)
			n = SF_PROTO_MAX_NAME;
		memcpy(m->u.exit.name, name, n);
		m->u.exit.namelen = (uint8_t)n;
	}
}

/*
 * Send a SPOOL frame with the stream's reader attached to its first byte.
 * Only called with an empty output buffer; a tail that did not fit is kept
 * there.  Returns 1 sent, 0 try again when writable, -1 drop the client.
 */
static int
send_spool(struct runner *r, struct client *c, int s)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct sf_msg m;
	ssize_t n;
	int len;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_SPOOL;
	m.u.spool.stream = (uint8_t)(s + 1);
	len = sf_proto_encode(&m, buf, sizeof(buf));
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = buf;
	iov.iov_len = (size_t)len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &r->reader[s], sizeof(int));
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	memcpy(c->out, buf + n, (size_t)(len - n));
	c->outoff = 0;
	c->outlen = (size_t)(len - n);
	c->spool_sent[s] = true;
	return 1;
}

/*
 * Write what the client is owed: first the rest of a partly sent frame, then
 * the descriptor of a spool it has not seen, then fresh DATA frames for
 * streams that grew, then EXIT.  Returns -1 when the client must be dropped
 * (gone, or served in full).
 */
static int
flush(struct runner *r, struct client *c)
{
	struct sf_msg m;
	ssize_t n;
	int s, len, sent;

	if (c->state != C_LIVE)
		return 0;
	for (;;) {
		while (c->outoff < c->outlen) {
			n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (n == -1)
				return -1;
			c->outoff += (size_t)n;
		}
		if (c->exit_sent)
			return 0;       /* all said: wait for its hang-up (LINGER_MS) */
		c->outoff = c->outlen = 0;
		for (s = 0, sent = 0; s < 2 && !sent; s++)
			if (r->reader[s] != -1 && !c->spool_sent[s]) {
				if ((sent = send_spool(r, c, s)) <= 0)
					return sent;
			}
		if (sent)
			continue;
		for (s = 0; s < 2; s++) {
			if (c->sent[s] == r->size[s])
				continue;
			memset(&m, 0, sizeof(m));
			m.type = SF_MSG_DATA;
			m.u.data.stream = (uint8_t)(s + 1);
			m.u.data.end = r->size[s];
			len = sf_proto_encode(&m, c->out + c->outlen, sizeof(c->out) - c->outlen);
			c->outlen += (size_t)len;
			c->sent[s] = r->size[s];
		}
		if (r->ended) {
			end_msg(r, &m);
			len = sf_proto_encode(&m, c->out + c->outlen, sizeof(c->out) - c->outlen);
			c->outlen += (size_t)len;
			c->exit_sent = true;
			c->deadline = now_us() + LINGER_MS * 1000LL;
		}
		if (c->outlen == 0)
			return 0;
	}
}

static int
welcome(struct runner *r, struct client *c)
{
	struct sf_msg m;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_WELCOME;
	m.u.welcome.version = SF_PROTO_VERSION;
	m.u.welcome.runner = (uint32_t)getpid();
	m.u.welcome.starter = (uint32_t)r->starter;
	m.u.welcome.pgid = (uint32_t)(r->pgid > 0 ? r->pgid : 0);
	c->outoff = 0;
	c->outlen = (size_t)sf_proto_encode(&m, c->out, sizeof(c->out));
	c->state = C_LIVE;
	return flush(r, c);
}

static int
refuse(struct client *c, uint8_t reason)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	int len;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_REFUSE;
	m.u.refuse.reason = reason;
	len = sf_proto_encode(&m, buf, sizeof(buf));
	(void)!send(c->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return -1;
}

/* The client's socket is readable.  Returns -1 to drop it. */
static int
client_input(struct runner *r, struct client *c)
{
	struct sf_msg m;
	ssize_t n;
	int len;

	if (c->state == C_LIVE) {
		/* A live client never speaks again: this is its end of file, or
		 * a protocol violation; either way it leaves. */
		return -1;
	}
	do
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	len = sf_proto_decode(c->in, c->inlen, &m);
	if (len == 0)
		return 0;
	if (len < 0 || m.type != SF_MSG_HELLO || (size_t)len != c->inlen)
		return -1;
	if (m.u.hello.version != SF_PROTO_VERSION)
		return refuse(c, SF_REFUSE_VERSION);
	if (memcmp(m.u.hello.digest, r->a->digest, SF_DIGEST_LEN) != 0)
		return refuse(c, SF_REFUSE_KEY);
	if (r->abandoned)
		return -1;          /* never join a flight being torn down */
	return welcome(r, c);
}

static int
peer_is_us(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	    cr.uid == geteuid();
}

static size_t
pending(const struct runner *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nc; i++)
		n += r->c[i]->fd != -1 && r->c[i]->state == C_HELLO;
	return n;
}

/* Make room under a flood: drop the connection that has waited longest
 * for its HELLO, so silent peers cannot keep an honest joiner queued. */
static void
evict_oldest_pending(struct runner *r)
{
	size_t i, oldest = r->nc;

	for (i = 0; i < r->nc; i++)
		if (r->c[i]->fd != -1 && r->c[i]->state == C_HELLO &&
		    (oldest == r->nc || r->c[i]->deadline < r->c[oldest]->deadline))
			oldest = i;
	if (oldest < r->nc)
		drop(r, oldest);
}

static void
accept_all(struct runner *r)
{
	size_t waiting = pending(r), turns;
	int fd;

	for (turns = 0; turns < 4 * MAX_PENDING; turns++) {
		fd = accept4(r->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				r->drained = true;
			else if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				r->accept_paused = true;  /* until a client leaves */
			return;
		}
		/* Another user may neither join nor speak to a flight. */
		if (!peer_is_us(fd) || r->abandoned || add_client(r, fd) == -1) {
			close(fd);
			continue;
		}
		/* An honest joiner sent HELLO right after connecting: it is
		 * usually here already, and then it is welcomed at once. */
		if (client_input(r, r->c[r->nc - 1]) == -1) {
			drop(r, r->nc - 1);
			continue;
		}
		if (r->c[r->nc - 1]->state == C_HELLO && ++waiting > MAX_PENDING) {
			evict_oldest_pending(r);
			waiting--;
		}
	}
}

/*
 * Stop accepting joiners: remove the socket's name, under the key's lock so
 * that no invocation is between its connect and its bind, then take in what
 * already queued.  Whoever comes next starts a new flight.  The listening
 * socket itself is closed later (close_listener), once its queue is empty
 * (short of descriptors, it may take several turns) and off the path to
 * EXIT: releasing its inode costs the file system more than the unlink.
 */
static void
stop_accepting(struct runner *r)
{
	if (!r->accepting)
		return;
	r->accepting = false;
	if (r->lockfd != -1)
		while (flock(r->lockfd, LOCK_EX) == -1 && errno == EINTR)
			;
	unlinkat(r->a->dirfd, r->a->sockname, 0);
	r->drained = false;
	accept_all(r);
	if (r->lockfd != -1)
		flock(r->lockfd, LOCK_UN);
}

/* A connection that slips in after the queue was found empty is reset by
 * this; its invocation retries and starts a new flight. */
static void
close_listener(struct runner *r)
{
	if (r->listenfd != -1 && !r->accepting && r->drained) {
		close(r->listenfd);
		r->listenfd = -1;
	}
}

/* ---- the loop -------------------------------------------------------------- */

static void
read_output(struct runner *r, int s, short revents)
{
	uint64_t before, moved;
	ssize_t n;
	int avail = 0;

	/* Spools are made on the first byte: a silent stream costs no file. */
	if (r->spool[s] == -1 && ioctl(r->pipes[s], FIONREAD, &avail) == 0 &&
	    avail == 0) {
		if (revents & (POLLHUP | POLLERR)) {
			close(r->pipes[s]);     /* end of file, nothing written */
			r->pipes[s] = -1;
		}
		return;
	}
	if (r->spool[s] == -1) {
		/* Clients may have taken every other descriptor by now. */
		close(r->reserve[s][0]);
		close(r->reserve[s][1]);
		r->reserve[s][0] = r->reserve[s][1] = -1;
		r->spool[s] = sf_spool_create(r->a->dirfd);
		if (r->spool[s] != -1 &&
		    (r->reader[s] = sf_spool_reader(r->spool[s])) == -1) {
			close(r->spool[s]);
			r->spool[s] = -1;
		}
	}
	/* Take the pipe's content in fill_buf-sized reads, but no more than
	 * one pipe's worth per wake-up, so clients hear of it in good time. */
	before = r->size[s];
	n = -1;
	if (r->spool[s] != -1)
		do
			n = sf_spool_fill(r->spool[s], r->pipes[s], &r->size[s],
			    fill_buf, sizeof(fill_buf));
		while (n == (ssize_t)sizeof(fill_buf) &&
		    r->size[s] - before < PIPE_SIZE);
	moved = r->size[s] - before;
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		/* The spool cannot grow (EFBIG, ENOSPC, EIO): the flight cannot
		 * deliver all of its output, so it fails, and loudly. */
		if (r->fail_err == 0) {
			r->fail_err = errno;
			r->fail_what = s == 0 ? "stdout spool" : "stderr spool";
		}
		terminate(r);
		n = 0;
	}
	if (n == 0) {
		close(r->pipes[s]);
		r->pipes[s] = -1;
	}
	if (moved == 0)
		return;
	/* A writer that filled half the pipe would only block while we wait. */
	if (moved >= BULK && moved < PIPE_SIZE / 2)
		r->next_read[s] = now_us() + BATCH_US;
	flush_all(r);
}

static void
handle_signals(struct runner *r)
{
	unsigned char b[64];
	ssize_t n, i;

	while ((n = read(r->sigpipe[0], b, sizeof(b))) > 0)
		for (i = 0; i < n; i++)
			if (b[i] == SIGCHLD)
				reap(r);
			else
				terminate(r);   /* SIGTERM, SIGINT, SIGHUP */
}

static bool
group_alive(struct runner *r)
{
	return r->pgid > 0 && kill(-r->pgid, 0) == 0;
}

static void
check_state(struct runner *r)
{
	size_t i;

	if (!r->ended && !r->abandoned && r->reaped && r->pipes[0] == -1 &&
	    r->pipes[1] == -1 && r->execfd == -1) {
		r->ended = true;
		stop_accepting(r);
		flush_all(r);
	}
	sweep(r);
	if (!r->ended && !r->abandoned && r->nc == 0) {
		/* Nobody is left to read the output: stop the command. */
		r->abandoned = true;
		stop_accepting(r);
		terminate(r);
		for (i = 0; i < r->nc; i++)
			drop(r, i);
		sweep(r);
	}
}

static bool
finished(struct runner *r)
{
	if (r->ended)
		return r->nc == 0 && r->listenfd == -1;
	if (r->abandoned)
		return (r->reaped || r->pgid <= 0) && (r->kill_sent || !group_alive(r));
	return false;
}

static void
loop(struct runner *r)
{
	struct pollfd *p = NULL;
	struct timespec ts;
	size_t cap = 0, n, i, first_client, nc;
	long long now, next;
	int s;

	while (!finished(r)) {
		if (cap < r->nc + 5) {
			struct pollfd *np = realloc(p, (r->nc + 5) * 2 * sizeof(*p));
			if (np == NULL) {
				/* Out of memory for the poll set: wait a moment
				 * rather than spin; nothing is lost by waiting. */
				poll(NULL, 0, 10);
				continue;
			}
			p = np;
			cap = (r->nc + 5) * 2;
		}
		now = now_us();
		next = LLONG_MAX;
		n = 0;
		p[n++] = (struct pollfd){ .fd = r->sigpipe[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = r->accept_paused ? -1 : r->listenfd,
		    .events = POLLIN };
		for (s = 0; s < 2; s++) {
			int fd = r->pipes[s];
			if (fd != -1 && r->next_read[s] > now) {
				if (r->next_read[s] < next)
					next = r->next_read[s];
				fd = -1;        /* busy: let it fill */
			}
			p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		p[n++] = (struct pollfd){ .fd = r->execfd, .events = POLLIN };
		first_client = n;
		nc = r->nc;     /* accept_all may add more; they wait a turn */
		for (i = 0; i < nc; i++)
			p[n++] = (struct pollfd){ .fd = r->c[i]->fd, .events = POLLIN |
			    (r->c[i]->outoff < r->c[i]->outlen ? POLLOUT : 0) };

		if (r->kill_at && !r->kill_sent && r->kill_at < next)
			next = r->kill_at;
		for (i = 0; i < nc; i++)
			if (timed(r->c[i]) && r->c[i]->deadline < next)
				next = r->c[i]->deadline;
		if (next != LLONG_MAX) {
			long long d = next > now ? next - now : 0;
			ts.tv_sec = d / 1000000;
			ts.tv_nsec = d % 1000000 * 1000;
		}
		if (ppoll(p, n, next == LLONG_MAX ? NULL : &ts, NULL) == -1 &&
		    errno != EINTR)
			continue;

		if (p[0].revents)
			handle_signals(r);
		if (r->execfd != -1 && p[4].revents)
			read_exec_report(r);
		for (s = 0; s < 2; s++)
			if (p[2 + s].fd != -1 && r->pipes[s] != -1 && p[2 + s].revents)
				read_output(r, s, p[2 + s].revents);
		/* p[first_client + i] is r->c[i]: drop() only marks, so the
		 * indices hold until the sweep in check_state. */
		for (i = 0; i < nc; i++) {
			short ev = p[first_client + i].revents;
			if (ev == 0 || r->c[i]->fd == -1)
				continue;
			if (((ev & (POLLIN | POLLHUP | POLLERR)) &&
			    client_input(r, r->c[i]) == -1) ||
			    ((ev & POLLOUT) && flush(r, r->c[i]) == -1))
				drop(r, i);
		}
		if (p[1].fd != -1 && p[1].revents)
			accept_all(r);

		now = now_us();
		for (i = 0; i < r->nc; i++)
			if (timed(r->c[i]) && r->c[i]->deadline <= now)
				drop(r, i);
		if (r->kill_at && !r->kill_sent && now >= r->kill_at) {
			kill(-r->pgid, SIGKILL);
			r->kill_sent = true;
		}
		check_state(r);
		close_listener(r);
	}
	free(p);
}

static void
install_handlers(int *fds)
{
	struct sigaction sa;
	size_t i;

	sigpipe_w = fds[1];
	for (i = 0; i < NHANDLED; i++) {
		memset(&sa, 0, sizeof(sa));
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		if (handled[i] == SIGPIPE || handled[i] == SIGXFSZ)
			sa.sa_handler = SIG_IGN;   /* get EPIPE / EFBIG instead */
		else
			sa.sa_handler = on_signal;
		if (handled[i] == SIGCHLD)
			sa.sa_flags |= SA_NOCLDSTOP;
		sigaction(handled[i], &sa, &saved_act[i]);
	}
}

/*
 * The runner could not even set itself up (no descriptor for /dev/null or
 * its self-pipe, no memory).  It tells the starter why, in the frames it
 * would have sent anyway, and leaves; the starter reports the cause instead
 * of taking the closed socket for the end of a flight.
 */
static void __attribute__((noreturn))
early_fail(const struct sf_runner_args *a, const char *what)
{
	uint8_t buf[2 * SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	size_t len, n;
	int e = errno;
	ssize_t w;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_WELCOME;
	m.u.welcome.version = SF_PROTO_VERSION;
	m.u.welcome.runner = (uint32_t)getpid();
	len = (size_t)sf_proto_encode(&m, buf, sizeof(buf));
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_EXIT;
	m.u.exit.how = SF_END_FAILED;
	m.u.exit.err = e;
	n = strlen(what);
	memcpy(m.u.exit.name, what, n);
	m.u.exit.namelen = (uint8_t)n;
	len += (size_t)sf_proto_encode(&m, buf + len, sizeof(buf) - len);
	for (n = 0; n < len; n += (size_t)w)
		if ((w = send(a->starterfd, buf + n, len - n, MSG_NOSIGNAL)) <= 0)
			break;
	_exit(125);
}

static void __attribute__((noreturn))
runner_main(const struct sf_runner_args *a)
{
	struct runner r;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct rlimit rl;
	sigset_t none;
	int keep[4], devnull;

	memset(&r, 0, sizeof(r));
	r.a = a;
	r.listenfd = a->listenfd;
	r.accepting = true;
	r.execfd = -1;
	r.pipes[0] = r.pipes[1] = -1;
	r.spool[0] = r.spool[1] = r.reader[0] = r.reader[1] = -1;

	keep[0] = a->dirfd;
	keep[1] = a->listenfd;
	keep[2] = a->starterfd;
	close_others(keep, 3);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull == -1)
		early_fail(a, "runner: /dev/null");
	/* Never hold the starter's stdout or stderr: a pipe reader waiting
	 * for end of file must not wait for the runner. */
	dup2(devnull, 1);
	dup2(devnull, 2);

	getrlimit(RLIMIT_NOFILE, &saved_nofile);
	rl = saved_nofile;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	if (getsockopt(a->starterfd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0)
		r.starter = cr.pid;
	if (pipe2(r.sigpipe, O_CLOEXEC | O_NONBLOCK) == -1)
		early_fail(a, "runner: self-pipe");
	if (add_client(&r, a->starterfd) == -1)
		early_fail(a, "runner");
	install_handlers(r.sigpipe);
	r.lockfd = openat(a->dirfd, a->lockname, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	set_nonblock(a->listenfd);
	set_nonblock(a->starterfd);

	if (start_command(&r) == -1)
		r.reaped = true;    /* nothing runs; clients are told why */
	/* Two descriptors per stream held back for its spool and reader, which
	 * are made only on the stream's first byte (after the command's pipe
	 * ends are closed, so the runner's peak stays low). */
	r.reserve[0][0] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	r.reserve[0][1] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	r.reserve[1][0] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	r.reserve[1][1] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	/* The command has its stdin; the runner lets go of it and of the
	 * working directory (so it never holds a file system busy). */
	dup2(devnull, 0);
	close(devnull);
	(void)!chdir("/");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	loop(&r);
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
