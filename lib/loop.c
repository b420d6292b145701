/* loop.c — the runner's event loop; see loop.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"

struct watch {
	int events;
	unsigned gen;               /* bumped on every change of owner */
	sf_loop_fd_fn *fn;
	void *arg;
};

struct sf_loop {
	struct watch *w;            /* indexed by descriptor */
	int nw;
	struct pollfd *p;
	unsigned *pgen;             /* gen of p[i]'s watch when collected */
	size_t pcap;
	struct sf_timer *timers;
	sf_loop_fn *sig_fn[NSIG];
	void *sig_arg[NSIG];
	int selfpipe[2];
	bool stop;
};

/* One loop per process: the handler needs the pipe without an argument. */
static int selfpipe_w = -1;

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(selfpipe_w, &b, 1);
	errno = saved;
}

sf_loop *
sf_loop_new(void)
{
	sf_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (pipe2(l->selfpipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		free(l);
		return NULL;
	}
	selfpipe_w = l->selfpipe[1];
	return l;
}

void
sf_loop_free(sf_loop *l)
{
	if (l == NULL)
		return;
	close(l->selfpipe[0]);
	close(l->selfpipe[1]);
	free(l->w);
	free(l->p);
	free(l->pgen);
	free(l);
}

int
sf_loop_watch(sf_loop *l, int fd, int events, sf_loop_fd_fn *fn, void *arg)
{
	if (fd < 0)
		return 0;
	if (fd >= l->nw) {
		int n = fd < 64 ? 64 : 2 * fd;
		struct watch *w;
		if (events == 0)
			return 0;
		if ((w = realloc(l->w, (size_t)n * sizeof(*w))) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		memset(w + l->nw, 0, (size_t)(n - l->nw) * sizeof(*w));
		l->w = w;
		l->nw = n;
	}
	if (l->w[fd].fn != fn || l->w[fd].arg != arg || events == 0)
		l->w[fd].gen++;
	l->w[fd].events = events;
	l->w[fd].fn = events ? fn : NULL;
	l->w[fd].arg = events ? arg : NULL;
	return 0;
}

void
sf_loop_unwatch(sf_loop *l, int fd)
{
	(void)sf_loop_watch(l, fd, 0, NULL, NULL);
}

void
sf_loop_timer_clear(sf_loop *l, struct sf_timer *t)
{
	struct sf_timer **pp;

	if (t->at == 0)
		return;
	for (pp = &l->timers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	t->at = 0;
	t->next = NULL;
}

void
sf_loop_timer_set(sf_loop *l, struct sf_timer *t, long long at,
    sf_loop_fn *fn, void *arg)
{
	sf_loop_timer_clear(l, t);
	t->at = at > 0 ? at : 1;
	t->fn = fn;
	t->arg = arg;
	t->next = l->timers;
	l->timers = t;
}

int
sf_loop_signal(sf_loop *l, int sig, sf_loop_fn *fn, void *arg,
    struct sigaction *old)
{
	struct sigaction sa;

	l->sig_fn[sig] = fn;
	l->sig_arg[sig] = arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;   /* SIGCHLD on stops and continues too */
	return sigaction(sig, &sa, old);
}

void
sf_loop_stop(sf_loop *l)
{
	l->stop = true;
}

static void
run_signals(sf_loop *l)
{
	unsigned char b[64];
	bool seen[NSIG] = { false };
	ssize_t n, i;
	int sig;

	/* Several deliveries of one signal before we looked are one event. */
	while ((n = read(l->selfpipe[0], b, sizeof(b))) > 0)
		for (i = 0; i < n; i++)
			if (b[i] < NSIG)
				seen[b[i]] = true;
	for (sig = 1; sig < NSIG; sig++)
		if (seen[sig] && l->sig_fn[sig] != NULL)
			l->sig_fn[sig](l->sig_arg[sig]);
}

static void
run_timers(sf_loop *l)
{
	long long now = sf_clock_us();
	struct sf_timer *t;

	/* Each due timer is unlinked before it runs (it may set itself or
	 * others again), so the walk starts over after every call. */
	for (t = l->timers; t != NULL; )
		if (t->at <= now) {
			sf_loop_timer_clear(l, t);
			t->fn(t->arg);
			t = l->timers;
		} else
			t = t->next;
}

static int
collect(sf_loop *l, long long *next)
{
	struct sf_timer *t;
	size_t n = 0;
	int fd;

	if (l->pcap < (size_t)l->nw + 1) {
		size_t cap = (size_t)l->nw + 1;
		struct pollfd *p = realloc(l->p, cap * sizeof(*p));
		unsigned *g;
		if (p == NULL)
			return -1;
		l->p = p;
		if ((g = realloc(l->pgen, cap * sizeof(*g))) == NULL)
			return -1;
		l->pgen = g;
		l->pcap = cap;
	}
	l->p[n].fd = l->selfpipe[0];
	l->p[n].events = POLLIN;
	l->pgen[n++] = 0;
	for (fd = 0; fd < l->nw; fd++)
		if (l->w[fd].events) {
			l->p[n].fd = fd;
			l->p[n].events = (short)((l->w[fd].events & SF_LOOP_READ ? POLLIN : 0) |
			    (l->w[fd].events & SF_LOOP_WRITE ? POLLOUT : 0));
			l->pgen[n++] = l->w[fd].gen;
		}
	*next = LLONG_MAX;
	for (t = l->timers; t != NULL; t = t->next)
		if (t->at < *next)
			*next = t->at;
	return (int)n;
}

void
sf_loop_run(sf_loop *l, sf_loop_fn *after, void *arg)
{
	struct timespec ts, *tp;
	long long next, d;
	int n, i, fd, ready;
	sf_loop_fd_fn *cb;
	void *cbarg;
	short re;

	l->stop = false;
	while (!l->stop) {
		if ((n = collect(l, &next)) == -1) {
			/* No memory for the poll set: nothing is lost by
			 * waiting a moment, and spinning would not help. */
			poll(NULL, 0, 10);
			continue;
		}
		tp = NULL;
		if (next != LLONG_MAX) {
			d = next - sf_clock_us();
			if (d < 0)
				d = 0;
			ts.tv_sec = d / 1000000;
			ts.tv_nsec = d % 1000000 * 1000;
			tp = &ts;
		}
		if (ppoll(l->p, (nfds_t)n, tp, NULL) == -1) {
			if (errno != EINTR)
				poll(NULL, 0, 10);      /* ENOMEM: as above */
			continue;
		}
		if (l->p[0].revents)
			run_signals(l);
		for (i = 1; i < n; i++) {
			re = l->p[i].revents;
			fd = l->p[i].fd;
			if (re == 0 || fd >= l->nw || l->w[fd].events == 0 ||
			    l->w[fd].gen != l->pgen[i])
				continue;       /* unwatched or re-owned this turn */
			ready = 0;
			if ((l->w[fd].events & SF_LOOP_READ) &&
			    (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
				ready |= SF_LOOP_READ;
			if ((l->w[fd].events & SF_LOOP_WRITE) &&
			    (re & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)))
				ready |= SF_LOOP_WRITE;
			/* A descriptor closed while watched would be reported
			 * on every turn: tell its owner once and forget it. */
			cb = l->w[fd].fn;
			cbarg = l->w[fd].arg;
			if (re & POLLNVAL)
				sf_loop_unwatch(l, fd);
			if (ready)
				cb(cbarg, fd, ready);
		}
		run_timers(l);
		if (after != NULL)
			after(arg);
	}
}
