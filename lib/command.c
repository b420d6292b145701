/* command.c — the local command as a source of output; see command.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"

#define PIPE_SIZE        (1 << 20)
/*
 * Batching.  A stream that just delivered BULK bytes or more is busy: it is
 * read again only BATCH_US later, so a bulk writer fills the pipe in big
 * steps and the runner and every client wake once per step instead of once
 * per write.  A quiet stream (a line now and then) is read at once, so a
 * line reaches the clients without delay; a busy one waits at most BATCH_US.
 * A stream that delivered half its pipe or more is read again at once: its
 * writer outruns the delay and would only block on a full pipe.  When the
 * other stream wakes us, a busy one is read first, its delay cut short, so
 * that the order of the two streams is kept (pipe_ready).
 */
#define BATCH_US         500
#define BULK             4096
/* An abandoned group whose members are not our children dies unseen: look
 * again this often. */
#define GONE_POLL_US     100000

static void __attribute__((noreturn))
child_exec(struct sf_command *c, int out_w, int err_w, int exec_w)
{
	const struct sf_command_restore *r = c->restore;
	int i, e;

	/* As if the starter had run the command itself: its dispositions,
	 * mask and descriptor limit; only stdin, stdout, stderr open. */
	for (i = 0; i < r->n; i++)
		sigaction(r->sig[i], &r->act[i], NULL);
	setrlimit(RLIMIT_NOFILE, &r->nofile);
	setpgid(0, 0);
	/* If the runner dies, so does the command. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(125);
	if ((c->stdinfd != -1 && dup2(c->stdinfd, 0) == -1) ||
	    dup2(out_w, 1) == -1 || dup2(err_w, 2) == -1)
		goto fail;
	sigprocmask(SIG_SETMASK, &r->mask, NULL);
	execvp(c->argv[0], c->argv);
fail:
	e = errno;
	(void)!write(exec_w, &e, sizeof(e));
	_exit(127);
}

static void pipe_ready(void *arg, int fd, int ready);
static void exec_ready(void *arg, int fd, int ready);

static void
check_done(struct sf_command *c)
{
	if (c->done || !c->reaped || c->pipes[0] != -1 || c->pipes[1] != -1 ||
	    c->execfd != -1)
		return;
	c->done = true;
	c->ended(c->arg);
}

static void
close_pipe(struct sf_command *c, int s)
{
	sf_loop_unwatch(c->loop, c->pipes[s]);
	sf_loop_timer_clear(c->loop, &c->batch[s]);
	close(c->pipes[s]);
	c->pipes[s] = -1;
}

static void
fail(struct sf_command *c, int err, const char *what)
{
	if (c->fail_err == 0) {
		c->fail_err = err;
		c->fail_what = what;
	}
}

int
sf_command_start(struct sf_command *c)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, ex[2] = { -1, -1 };
	sigset_t all, old;
	int i, saved, sz;

	c->pipes[0] = c->pipes[1] = c->execfd = -1;
	c->pid = 0;
	/* Orphans of the command become ours: see command.h. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    pipe2(ex, O_CLOEXEC) == -1) {
		saved = errno;
		fail(c, saved, "pipe");
		goto fail;
	}
	/* vfork: the runner is paused until the exec, and no page tables are
	 * copied; the child only makes system calls on its own behalf and
	 * writes nothing of ours (errno aside) before exec or _exit. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	c->pid = vfork();
	if (c->pid == 0)
		child_exec(c, out[1], err[1], ex[1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (c->pid == -1) {
		c->pid = 0;
		fail(c, saved, "fork");
		goto fail;
	}
	/* Also here, so the group exists even before the child runs. */
	setpgid(c->pid, c->pid);
	close(out[1]);
	close(err[1]);
	close(ex[1]);
	c->pipes[0] = out[0];
	c->pipes[1] = err[0];
	c->execfd = ex[0];
	for (i = 0; i < 2; i++) {
		/* The batching thresholds follow the size we really got. */
		fcntl(c->pipes[i], F_SETPIPE_SZ, PIPE_SIZE);
		sz = fcntl(c->pipes[i], F_GETPIPE_SZ);
		c->pipe_size[i] = sz > 0 ? (size_t)sz : 65536;
		if (fcntl(c->pipes[i], F_SETFL, O_NONBLOCK) == -1 ||
		    sf_loop_watch(c->loop, c->pipes[i], SF_LOOP_READ, pipe_ready, c) == -1) {
			fail(c, errno, "pipe");
			sf_command_abandon(c);
		}
	}
	if (sf_loop_watch(c->loop, c->execfd, SF_LOOP_READ, exec_ready, c) == -1) {
		fail(c, errno, "pipe");
		sf_command_abandon(c);
	}
	return c->fail_err == 0 ? 0 : -1;
fail:
	for (i = 0; i < 2; i++) {
		if (out[i] != -1) close(out[i]);
		if (err[i] != -1) close(err[i]);
		if (ex[i] != -1) close(ex[i]);
	}
	c->reaped = true;       /* nothing runs */
	check_done(c);
	return -1;
}

static void
rewatch(void *arg)
{
	struct sf_command *c = arg;
	int s;

	for (s = 0; s < 2; s++)
		if (c->pipes[s] != -1 && c->batch[s].at == 0)
			sf_loop_watch(c->loop, c->pipes[s], SF_LOOP_READ, pipe_ready, c);
}

/* Read what stream s holds into its spool; close its pipe at end of file. */
static void
drain(struct sf_command *c, int s)
{
	int fd = c->pipes[s];
	ssize_t n;

	/* At most one pipe's worth per wake-up, so clients hear of it soon. */
	n = sf_output_fill(c->out, s, fd, c->pipe_size[s]);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == -1) {
		/* The spool cannot grow (EFBIG, ENOSPC, EIO): the flight cannot
		 * deliver its output, so it fails, and loudly. */
		static const char *what[SF_OUT_SPOOLS] = {
			"stdout spool", "stderr spool", "order index"
		};
		fail(c, errno, what[c->out->failed != -1 ? c->out->failed : s]);
		sf_command_abandon(c);
		n = 0;
	}
	if (n == 0) {
		close_pipe(c, s);
		c->grew(c->arg);
		check_done(c);
		return;
	}
	if ((size_t)n >= BULK && (size_t)n < c->pipe_size[s] / 2) {
		sf_loop_unwatch(c->loop, fd);   /* let it fill */
		sf_loop_timer_set(c->loop, &c->batch[s], sf_clock_us() + BATCH_US,
		    rewatch, c);
	}
	c->grew(c->arg);
}

static void
pipe_ready(void *arg, int fd, int ready)
{
	struct sf_command *c = arg;
	int s = fd == c->pipes[0] ? 0 : 1, t = 1 - s;

	(void)ready;
	/*
	 * The order of the two streams is the order in which the runner reads
	 * them (output.h).  When the other stream has bytes waiting too, they
	 * are read first if they most likely came first: when it waits out its
	 * batching delay (we were watching this one, which woke us), or when
	 * this one is the stream read last (a command that writes to both in
	 * turn has written there since).  A delay cut short may start again.
	 */
	if (c->pipes[t] != -1 && (c->batch[t].at != 0 ||
	    (s == c->out->last && c->out->spool[t] != -1 && sf_output_pending(c->pipes[t])))) {
		sf_loop_timer_clear(c->loop, &c->batch[t]);
		drain(c, t);
		if (c->pipes[t] != -1 && c->batch[t].at == 0)
			sf_loop_watch(c->loop, c->pipes[t], SF_LOOP_READ, pipe_ready, c);
	}
	if (c->pipes[s] != -1)
		drain(c, s);
}

static void
exec_ready(void *arg, int fd, int ready)
{
	struct sf_command *c = arg;
	ssize_t n;
	int e;

	(void)ready;
	do
		n = read(fd, &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)sizeof(e))
		c->exec_err = e;
	sf_loop_unwatch(c->loop, fd);
	close(fd);
	c->execfd = -1;
	check_done(c);
}

void
sf_command_reap(struct sf_command *c)
{
	pid_t p;
	int st, sig = c->stop_sig;

	/* The leader first, for its stops and continues as well.  It is our
	 * child, so nobody else can collect these. */
	while (c->pid > 0 && !c->reaped &&
	    ((p = waitpid(c->pid, &st, WNOHANG | WUNTRACED | WCONTINUED)) > 0 ||
	    (p == -1 && errno == EINTR))) {
		if (p == -1)
			continue;
		if (WIFSTOPPED(st))
			sig = WSTOPSIG(st);
		else if (WIFCONTINUED(st))
			sig = 0;
		else {
			c->reaped = true;
			c->wstatus = st;
		}
	}
	/* Our own children and the orphans we adopted alike. */
	while ((p = waitpid(-1, &st, WNOHANG)) > 0 || (p == -1 && errno == EINTR))
		if (p > 0 && p == c->pid) {
			c->reaped = true;
			c->wstatus = st;
		}
	/* A leader that ended while stopped leaves stop_sig as it was: the
	 * rest of its group may still be stopped, holding the pipes open, and
	 * "continued" would be untrue. */
	if (sig != c->stop_sig) {
		c->stop_sig = sig;
		if (c->stopped != NULL)
			c->stopped(c->arg);
	}
	check_done(c);
}

/* Signal the command's process group if it is still there: see command.h
 * for why a group that answers kill(-pgid, 0) is ours. */
static void
signal_group(struct sf_command *c, int sig)
{
	if (c->pid > 0 && kill(-c->pid, 0) == 0)
		kill(-c->pid, sig);
}

static void
kill_now(void *arg)
{
	struct sf_command *c = arg;

	signal_group(c, SIGKILL);
	c->kill_sent = true;
}

static void
look_again(void *arg)
{
	struct sf_command *c = arg;

	/* Nothing to do but wake the loop, whose owner asks sf_command_gone. */
	if (!sf_command_gone(c))
		sf_loop_timer_set(c->loop, &c->gone_timer,
		    sf_clock_us() + GONE_POLL_US, look_again, c);
}

void
sf_command_abandon(struct sf_command *c)
{
	if (c->abandoned)
		return;
	c->abandoned = true;
	signal_group(c, SIGTERM);
	/* A stopped group would only take SIGTERM in once continued. */
	signal_group(c, SIGCONT);
	sf_loop_timer_set(c->loop, &c->kill_timer,
	    sf_clock_us() + c->grace_ms * 1000LL, kill_now, c);
	look_again(c);
}

bool
sf_command_gone(struct sf_command *c)
{
	if (c->pid > 0 && !c->reaped)
		return false;
	return c->pid <= 0 || kill(-c->pid, 0) == -1;
}
