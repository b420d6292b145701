/*
 * test_stress.c - semantic 10: 8 threads, 100k calls over 1k keys, mixing
 * sf_do, sf_do_async with waits and timeouts, abandonment, sf_forget and
 * sf_forget_unshared, nested flights and fns that look at cancellation.
 * Afterwards every value must have been freed exactly once, the counts
 * must agree, and the group must be empty; under ThreadSanitizer (make
 * check-singleflight-tsan) any race fails the run, under AddressSanitizer
 * any leak, double free or use after free does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "singleflight.h"
#include "hooks.h"

enum {
	NTHREADS = 8,
	NCALLS   = 100000,             /* in all, over the threads */
	NKEYS    = 1000,
	NHOT     = 8,                  /* keys 0..NHOT-1 get half the calls */
	NESTED   = NKEYS / 2,          /* fn of key k < NESTED calls key k + NESTED */
};

static char keys[NKEYS][16];
static sf_group *group;

/*
 * Counters under one lock, so that the end of the run can be waited for
 * on a condition variable: every fn has returned and every value is freed.
 */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long fn_started, fn_returned, values_made, values_freed;
static long received_total;    /* results received, summed at value_free */
static long violations;        /* a value seen by two callers but not shared */

/* A value: which key made it, and who received it. */
struct val {
	unsigned key;
	atomic_int received;
	atomic_int received_unshared;
};

/* Each result must be right for its key; fn's error depends on the key. */
static int
err_for(unsigned key)
{
	return key % 7 == 0 ? EIO : 0;
}

static void
count(long *n)
{
	pthread_mutex_lock(&mu);
	(*n)++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* The library's notification (a group hold given back) wakes the end wait. */
static void
notified(void)
{
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
val_free(void *p)
{
	struct val *v = p;
	int received = atomic_load(&v->received);

	pthread_mutex_lock(&mu);
	received_total += received;
	if (atomic_load(&v->received_unshared) > 0 && received > 1)
		violations++;
	values_freed++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	free(v);
}

static _Thread_local uint64_t rng_state;

static unsigned
rnd(unsigned n)
{
	uint64_t x = rng_state;

	if (x == 0)                   /* a worker thread's first draw */
		x = (uint64_t)(uintptr_t)&rng_state * 0x9e3779b97f4a7c15ull | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return (unsigned)(x % n);
}

/* Bad results are counted here by whichever thread sees them. */
static atomic_long wrong;
static atomic_long receipts;   /* good results received */
static atomic_long attempts;   /* sf_do and sf_do_async calls, nested too */

static void
check_result(sf_result *r, unsigned key)
{
	struct val *v;

	if (r == NULL) {
		atomic_fetch_add(&wrong, 1);
		return;
	}
	v = sf_result_value(r);
	if (v == NULL || v->key != key || sf_result_err(r) != err_for(key)) {
		atomic_fetch_add(&wrong, 1);
		return;
	}
	atomic_fetch_add(&receipts, 1);
	atomic_fetch_add(&v->received, 1);
	if (!sf_result_shared(r))
		atomic_fetch_add(&v->received_unshared, 1);
}

static int
fn_stress(sf_ctx *ctx, void *arg, void **value)
{
	unsigned key = (unsigned)(uintptr_t)arg;
	struct val *v;

	count(&fn_started);
	switch (rnd(8)) {
	case 0:                       /* give joiners a chance to pile up */
	case 3:
	case 4:
		sched_yield();
		break;
	case 1:                       /* look at cancellation, both ways */
		if (sf_ctx_cancelled(ctx) < 0)
			atomic_fetch_add(&wrong, 1);
		{
			struct pollfd p = { .fd = sf_ctx_fd(ctx), .events = POLLIN };
			if (p.fd < 0 || poll(&p, 1, 0) < 0)
				atomic_fetch_add(&wrong, 1);
		}
		break;
	case 2:
		if (key < NESTED) {
			atomic_fetch_add(&attempts, 1);
			sf_result *r = sf_do(group, keys[key + NESTED], fn_stress,
			    (void *)(uintptr_t)(key + NESTED));
			check_result(r, key + NESTED);
			sf_result_release(r);
		}
		break;
	}
	v = calloc(1, sizeof *v);
	if (v != NULL) {
		v->key = key;
		count(&values_made);
	}
	*value = v;
	count(&fn_returned);
	return err_for(key);
}

static void *
caller(void *p)
{
	long n = (long)(intptr_t)p;

	rng_state = (uint64_t)(n + 1) * 0x9e3779b97f4a7c15ull;
	for (long i = 0; i < NCALLS / NTHREADS; i++) {
		/* Half the calls go to a few hot keys, so that flights overlap. */
		unsigned key = rnd(2) ? rnd(NHOT) : rnd(NKEYS), op = rnd(100);
		void *arg = (void *)(uintptr_t)key;
		sf_result *r, *r2;
		sf_call *c;

		if (op < 90)
			atomic_fetch_add(&attempts, 1);
		if (op < 50) {
			r = sf_do(group, keys[key], fn_stress, arg);
			check_result(r, key);
			sf_result_release(r);
		} else if (op < 75) {
			/* Wait, sometimes after polling the fd, release in either order. */
			if ((c = sf_do_async(group, keys[key], fn_stress, arg)) == NULL) {
				atomic_fetch_add(&wrong, 1);
				continue;
			}
			if (op < 60) {
				struct pollfd pfd = { .fd = sf_call_fd(c), .events = POLLIN };
				if (pfd.fd < 0 || poll(&pfd, 1, -1) != 1)
					atomic_fetch_add(&wrong, 1);
			}
			r = sf_call_wait(c, -1);
			check_result(r, key);
			if (op & 1) {
				sf_call_release(c);
				sf_result_release(r);
			} else {
				sf_result_release(r);
				sf_call_release(c);
			}
		} else if (op < 85) {
			/* Abandon at once. */
			sf_call_release(sf_do_async(group, keys[key], fn_stress, arg));
		} else if (op < 90) {
			/* Look without waiting; then wait, or abandon. */
			if ((c = sf_do_async(group, keys[key], fn_stress, arg)) == NULL) {
				atomic_fetch_add(&wrong, 1);
				continue;
			}
			errno = 0;
			r = sf_call_wait(c, 0);
			if (r == NULL && errno != ETIMEDOUT)
				atomic_fetch_add(&wrong, 1);
			if (r == NULL && (op & 1)) {
				r = sf_call_wait(c, -1);
				/* Same caller, same object: not another receipt. */
				r2 = sf_call_wait(c, 0);
				if (r2 != r)
					atomic_fetch_add(&wrong, 1);
				sf_result_release(r2);
			}
			if (r != NULL)
				check_result(r, key);
			sf_call_release(c);
			sf_result_release(r);
		} else if (op < 95) {
			sf_forget(group, keys[key]);
		} else {
			if (sf_forget_unshared(group, keys[key]) < 0)
				atomic_fetch_add(&wrong, 1);
		}
	}
	return NULL;
}

static void
test_stress(void **state)
{
	pthread_t t[NTHREADS];

	(void)state;
	alarm(600);                   /* ThreadSanitizer is slow; still bounded */
	group = sf_group_new(val_free);
	assert_non_null(group);
	for (int i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof keys[i], "key-%d", i);
	for (long i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller,
		    (void *)(intptr_t)i), 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	/*
	 * Abandoned flights may still run, or not have started yet.  With the
	 * callers gone, the group is quiet for good once no worker or handle
	 * holds it, every fn that started (nested ones included) has returned,
	 * and every value made has been freed.
	 */
	pthread_mutex_lock(&mu);
	while (sf__group_holds(group) != 1 || fn_returned < fn_started ||
	    values_freed < values_made)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	assert_int_equal(atomic_load(&wrong), 0);
	assert_int_equal(violations, 0);
	assert_int_equal(values_made, fn_started);    /* calloc never failed */
	assert_true(fn_started > 0);
	/*
	 * A flight is started by a call or not at all; the rest joined (with
	 * thousands of overlapping flights on the hot keys, some always do).
	 */
	assert_true(fn_started < atomic_load(&attempts));
	/* Each result received was of a value freed later, exactly once. */
	assert_true(received_total > 0);
	assert_int_equal(received_total, atomic_load(&receipts));
	assert_int_equal(sf__group_flights(group), 0);
	sf_group_free(group);
	print_message("# %ld flights for %ld starts or joins, %ld results received\n",
	    fn_started, atomic_load(&attempts), received_total);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	sf__notify = notified;
	return cmocka_run_group_tests_name("singleflight stress", tests, NULL, NULL);
}
