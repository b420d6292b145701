/*
 * loop.h — the runner's event loop: descriptors with callbacks, timers and
 * signals through a self-pipe, in the shape of Redis's ae.c, sized for one
 * flight.
 *
 * Single-threaded.  A callback may watch or unwatch any descriptor, set or
 * clear any timer, and close descriptors; an event already collected for a
 * descriptor that was unwatched (or closed and reused) in the same turn is
 * never delivered to its new owner.
 */
#ifndef SF_LOOP_H
#define SF_LOOP_H

#include <signal.h>
#include <stdbool.h>

typedef struct sf_loop sf_loop;

enum { SF_LOOP_READ = 1, SF_LOOP_WRITE = 2 };

/* A descriptor is ready: SF_LOOP_READ also covers hang-up and error, which
 * a read then reports. */
typedef void sf_loop_fd_fn(void *arg, int fd, int ready);
typedef void sf_loop_fn(void *arg);

/* A timer lives in its owner's struct; the loop only links it. */
struct sf_timer {
	long long at;               /* clock.h microseconds; 0: not set */
	sf_loop_fn *fn;
	void *arg;
	struct sf_timer *next;
};

/* sf_loop_new — an empty loop with its self-pipe; NULL/errno. */
sf_loop *sf_loop_new(void);
void sf_loop_free(sf_loop *l);

/*
 * sf_loop_watch — call fn(arg, fd, ready) when fd is ready for what events
 * asks (SF_LOOP_READ | SF_LOOP_WRITE); events 0 stops watching.  Watching
 * again replaces the callback.  Returns 0, or -1 with ENOMEM.
 */
int sf_loop_watch(sf_loop *l, int fd, int events, sf_loop_fd_fn *fn, void *arg);

/* sf_loop_unwatch — forget fd (before closing it). */
void sf_loop_unwatch(sf_loop *l, int fd);

/* sf_loop_timer_set — run fn(arg) once, at (clock.h microseconds); a timer
 * already set is moved.  sf_loop_timer_clear — unset; harmless if unset. */
void sf_loop_timer_set(sf_loop *l, struct sf_timer *t, long long at,
    sf_loop_fn *fn, void *arg);
void sf_loop_timer_clear(sf_loop *l, struct sf_timer *t);

/*
 * sf_loop_signal — on signal sig, call fn(arg) from the loop (the handler
 * only writes the number to the self-pipe).  The disposition it replaces is
 * stored in *old.  SIGCHLD comes when a child stops or continues, too (no
 * SA_NOCLDSTOP): the runner tells its clients about a stopped command.
 * Returns 0 or -1/errno.
 */
int sf_loop_signal(sf_loop *l, int sig, sf_loop_fn *fn, void *arg,
    struct sigaction *old);

/*
 * sf_loop_run — turn until sf_loop_stop: wait for the earliest of the
 * watched descriptors and timers, dispatch, then call after(arg), where the
 * owner looks at its state as a whole.  Never spins: a failing poll(2)
 * (ENOMEM) is retried after a pause.
 */
void sf_loop_run(sf_loop *l, sf_loop_fn *after, void *arg);
void sf_loop_stop(sf_loop *l);

#endif
