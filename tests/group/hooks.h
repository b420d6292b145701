/*
 * hooks.h - test-only helpers for the group tests.
 *
 * The sf__ functions live in lib/group.c with hidden visibility: they are
 * in libsingleflight.a (which the tests link) and not exported by the .so.
 * They let a test wait for joiners to be queued, or for a group to go
 * quiet, instead of sleeping.
 *
 * The rest are small synchronisation helpers.  cmocka's assertions longjmp
 * to the test's own stack, so they may only run in the test's thread:
 * helper threads record what they see and the test asserts on it.
 */
#ifndef SF_TESTS_GROUP_HOOKS_H
#define SF_TESTS_GROUP_HOOKS_H

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "singleflight.h"

unsigned      sf__group_callers(sf_group *g, const char *key);
size_t        sf__group_flights(sf_group *g);
unsigned long sf__group_holds(sf_group *g);

extern void (*sf__notify)(void);

/*
 * Joins (and dropped group holds) are announced through sf__notify;
 * wait_callers sleeps on a condition variable until the flight for key has
 * n callers.
 */
static pthread_mutex_t join_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t join_cv = PTHREAD_COND_INITIALIZER;

static inline void
announce_join(void)
{
	pthread_mutex_lock(&join_mu);
	pthread_cond_broadcast(&join_cv);
	pthread_mutex_unlock(&join_mu);
}

/* hooks_init: call in main before any thread uses the library. */
static inline void
hooks_init(void)
{
	sf__notify = announce_join;
}

/*
 * wait_callers: the check runs under join_mu and every join broadcasts
 * under it after joining, so no wake-up is lost between check and wait.
 */
static inline void
wait_callers(sf_group *g, const char *key, unsigned n)
{
	pthread_mutex_lock(&join_mu);
	while (sf__group_callers(g, key) < n)
		pthread_cond_wait(&join_cv, &join_mu);
	pthread_mutex_unlock(&join_mu);
}

/* Watchdog: a deadlocked test dies of SIGALRM instead of hanging make. */
static inline int
watchdog(void **state)
{
	(void)state;
	alarm(120);
	return 0;
}

/*
 * A gate: fn bodies record that they entered and block until the test
 * opens it.
 */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;                  /* fn bodies that reached the gate */
	int open;
	pthread_t thread;             /* of the last fn that entered */
};

static inline void
gate_init(struct gate *gt)
{
	pthread_mutex_init(&gt->mu, NULL);
	pthread_cond_init(&gt->cv, NULL);
	gt->entered = 0;
	gt->open = 0;
}

static inline void
gate_destroy(struct gate *gt)
{
	pthread_mutex_destroy(&gt->mu);
	pthread_cond_destroy(&gt->cv);
}

/* gate_pass: called by fn: count in, then block until the gate is open. */
static inline void
gate_pass(struct gate *gt)
{
	pthread_mutex_lock(&gt->mu);
	gt->entered++;
	gt->thread = pthread_self();
	pthread_cond_broadcast(&gt->cv);
	while (!gt->open)
		pthread_cond_wait(&gt->cv, &gt->mu);
	pthread_mutex_unlock(&gt->mu);
}

static inline void
gate_open(struct gate *gt)
{
	pthread_mutex_lock(&gt->mu);
	gt->open = 1;
	pthread_cond_broadcast(&gt->cv);
	pthread_mutex_unlock(&gt->mu);
}

/* gate_wait_entered: block until n fn bodies have reached the gate. */
static inline void
gate_wait_entered(struct gate *gt, int n)
{
	pthread_mutex_lock(&gt->mu);
	while (gt->entered < n)
		pthread_cond_wait(&gt->cv, &gt->mu);
	pthread_mutex_unlock(&gt->mu);
}

static inline int
gate_entered(struct gate *gt)
{
	int n;

	pthread_mutex_lock(&gt->mu);
	n = gt->entered;
	pthread_mutex_unlock(&gt->mu);
	return n;
}

/* A latch: counts events, lets a thread wait for the n-th. */
struct latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
};

static inline void
latch_init(struct latch *l)
{
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->n = 0;
}

static inline void
latch_destroy(struct latch *l)
{
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
}

static inline void
latch_up(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	l->n++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static inline void
latch_wait(struct latch *l, int n)
{
	pthread_mutex_lock(&l->mu);
	while (l->n < n)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

static inline int
latch_count(struct latch *l)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

#endif /* SF_TESTS_GROUP_HOOKS_H */
