/*
 * test_group.c - the semantics of lib/singleflight.h, one test (or more)
 * per numbered semantic of the contract; the stress test of semantic 10 is
 * test_stress.c, and every test also runs under ThreadSanitizer
 * (make check-singleflight-tsan) and AddressSanitizer.
 *
 * No sleeps: fn bodies block on gates the test opens, joiners are waited
 * for through the library's join hook, and waits that must time out are
 * against flights that cannot end until the test lets them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "singleflight.h"
#include "hooks.h"

/* ---- values whose frees are counted ------------------------------------- */

static pthread_mutex_t freed_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed_cv = PTHREAD_COND_INITIALIZER;
static int nfreed;

static void
count_free(void *v)
{
	free(v);
	pthread_mutex_lock(&freed_mu);
	nfreed++;
	pthread_cond_broadcast(&freed_cv);
	pthread_mutex_unlock(&freed_mu);
}

static int
freed(void)
{
	int n;

	pthread_mutex_lock(&freed_mu);
	n = nfreed;
	pthread_mutex_unlock(&freed_mu);
	return n;
}

static void
wait_freed(int n)
{
	pthread_mutex_lock(&freed_mu);
	while (nfreed < n)
		pthread_cond_wait(&freed_cv, &freed_mu);
	pthread_mutex_unlock(&freed_mu);
}

static int
setup(void **state)
{
	pthread_mutex_lock(&freed_mu);
	nfreed = 0;
	pthread_mutex_unlock(&freed_mu);
	return watchdog(state);
}

/* ---- fn bodies ---------------------------------------------------------- */

/* A job: what one fn does and what it saw. */
struct job {
	struct gate *gate;            /* block here first, if set */
	const char *value;            /* the value to share */
	int dup;                      /* share a malloc'd copy (count_free groups) */
	int err;                      /* what fn returns */
	atomic_int calls;
	pthread_t thread;             /* that ran fn first (read after its result) */
};

static int
fn_job(sf_ctx *ctx, void *arg, void **value)
{
	struct job *j = arg;

	(void)ctx;
	if (atomic_fetch_add(&j->calls, 1) == 0)
		j->thread = pthread_self();
	if (j->gate != NULL)
		gate_pass(j->gate);
	if (j->value != NULL)
		*value = j->dup ? strdup(j->value) : (void *)j->value;
	return j->err;
}

/* ---- sf_do in a helper thread ------------------------------------------- */

struct doer {
	pthread_t t;
	sf_group *g;
	const char *key;
	sf_fn fn;
	void *arg;
	sf_result *r;
	int errno_seen;
};

static void *
doer_main(void *p)
{
	struct doer *d = p;

	d->r = sf_do(d->g, d->key, d->fn, d->arg);
	d->errno_seen = errno;
	return NULL;
}

static void
doer_start(struct doer *d, sf_group *g, const char *key, sf_fn fn, void *arg)
{
	*d = (struct doer){ .g = g, .key = key, .fn = fn, .arg = arg };
	assert_int_equal(pthread_create(&d->t, NULL, doer_main, d), 0);
}

static void
doer_join(struct doer *d)
{
	assert_int_equal(pthread_join(d->t, NULL), 0);
}

/* Duplicate suppression under a gate: n doers of j on "key"; the first runs
 * fn and blocks at j's gate, the other n - 1 join it while it is blocked;
 * then the gate opens and every doer is joined. */
static void
herd_at_gate(sf_group *g, struct doer *d, int n, struct job *j)
{
	doer_start(&d[0], g, "key", fn_job, j);
	gate_wait_entered(j->gate, 1);
	for (int i = 1; i < n; i++)
		doer_start(&d[i], g, "key", fn_job, j);
	wait_callers(g, "key", (unsigned)n);
	gate_open(j->gate);
	for (int i = 0; i < n; i++)
		doer_join(&d[i]);
}

static int
is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static int
readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* ---- 1. sf_do: value, error, not shared --------------------------------- */

static void
test_do_value_and_error(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct job ok = { .value = "bar" }, bad = { .value = "partial", .err = EIO };
	sf_result *r;

	(void)state;
	assert_non_null(g);
	r = sf_do(g, "key", fn_job, &ok);
	assert_non_null(r);
	assert_string_equal(sf_result_value(r), "bar");
	assert_int_equal(sf_result_err(r), 0);
	assert_int_equal(sf_result_shared(r), 0);
	assert_int_equal(atomic_load(&ok.calls), 1);
	/* sf_do runs fn in the caller's thread. */
	assert_true(pthread_equal(ok.thread, pthread_self()));
	sf_result_release(r);

	/* An error travels with whatever value fn set. */
	r = sf_do(g, "key", fn_job, &bad);
	assert_non_null(r);
	assert_int_equal(sf_result_err(r), EIO);
	assert_string_equal(sf_result_value(r), "partial");
	assert_int_equal(sf_result_shared(r), 0);
	sf_result_release(r);
	assert_int_equal(sf__group_flights(g), 0);
	sf_group_free(g);
}

static void
test_bad_arguments(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct job j = { .value = "v" };

	(void)state;
	errno = 0;
	assert_null(sf_do(NULL, "k", fn_job, &j));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(sf_do(g, NULL, fn_job, &j));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(sf_do(g, "k", NULL, &j));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(sf_do_async(g, NULL, fn_job, &j));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(sf_call_wait(NULL, -1));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(sf_call_fd(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(sf_forget_unshared(NULL, "k"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(atomic_load(&j.calls), 0);
	/* Releasing nothing is allowed everywhere. */
	sf_result_release(NULL);
	sf_call_release(NULL);
	sf_forget(g, NULL);
	sf_group_free(NULL);
	sf_group_free(g);
}

/*
 * Keys are copied and compared by content, whatever their length (the hash
 * reads 8 bytes at a time: cover empty, short, exact and long keys).
 */
static void
test_keys_by_content(void **state)
{
	static const char *keys[] = { "", "a", "1234567", "12345678", "123456789",
	    "a key that is a good deal longer than sixteen bytes" };
	enum { N = sizeof keys / sizeof keys[0] };
	sf_group *g = sf_group_new(NULL);
	struct gate gt;
	struct job j = { .gate = &gt, .value = "v" }, other = { .value = "w" };
	sf_call *c[N], *dup[N];
	char buf[80];

	(void)state;
	gate_init(&gt);
	for (int i = 0; i < N; i++) {
		/* Start from a buffer that is overwritten straight after. */
		snprintf(buf, sizeof buf, "%s", keys[i]);
		c[i] = sf_do_async(g, buf, fn_job, &j);
		assert_non_null(c[i]);
		memset(buf, 'x', sizeof buf - 1);
	}
	gate_wait_entered(&gt, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(sf__group_callers(g, keys[i]), 1);
		snprintf(buf, sizeof buf, "%s", keys[i]);
		dup[i] = sf_do_async(g, buf, fn_job, &other);
		assert_non_null(dup[i]);
		assert_int_equal(sf__group_callers(g, keys[i]), 2);
	}
	assert_int_equal(sf__group_flights(g), N);
	assert_int_equal(sf__group_callers(g, "12345679"), 0);
	gate_open(&gt);
	for (int i = 0; i < N; i++) {
		sf_result *a = sf_call_wait(c[i], -1), *b = sf_call_wait(dup[i], -1);
		assert_non_null(a);
		assert_ptr_equal(a, b);
		assert_int_equal(sf_result_shared(a), 1);
		sf_result_release(a);
		sf_result_release(b);
		sf_call_release(c[i]);
		sf_call_release(dup[i]);
	}
	assert_int_equal(atomic_load(&j.calls), N);
	assert_int_equal(atomic_load(&other.calls), 0);
	gate_destroy(&gt);
	sf_group_free(g);
}

/* ---- 2. duplicate suppression ------------------------------------------- */

static void
test_dup_suppress(void **state)
{
	enum { N = 10 };
	sf_group *g = sf_group_new(NULL);
	struct gate gt;
	struct job j = { .gate = &gt, .value = "bar" };
	struct doer d[N];

	(void)state;
	gate_init(&gt);
	/* The other nine arrive while fn is blocked, in whatever order. */
	herd_at_gate(g, d, N, &j);

	assert_int_equal(atomic_load(&j.calls), 1);
	for (int i = 0; i < N; i++) {
		assert_non_null(d[i].r);
		assert_ptr_equal(d[i].r, d[0].r);
		assert_string_equal(sf_result_value(d[i].r), "bar");
		assert_int_equal(sf_result_err(d[i].r), 0);
		assert_int_equal(sf_result_shared(d[i].r), 1);
	}
	/* fn ran in the thread of the first caller. */
	assert_true(pthread_equal(j.thread, d[0].t));
	for (int i = 0; i < N; i++)
		sf_result_release(d[i].r);
	gate_destroy(&gt);
	sf_group_free(g);
}

/* ---- 3. errors are shared; a later call runs fn again ------------------- */

static void
test_error_shared_then_rerun(void **state)
{
	enum { N = 4 };
	sf_group *g = sf_group_new(count_free);
	struct gate gt;
	struct job j = { .gate = &gt, .value = "why", .dup = 1, .err = EIO };
	struct doer d[N];
	sf_result *r;

	(void)state;
	gate_init(&gt);
	herd_at_gate(g, d, N, &j);
	assert_int_equal(atomic_load(&j.calls), 1);
	for (int i = 0; i < N; i++) {
		assert_ptr_equal(d[i].r, d[0].r);
		assert_int_equal(sf_result_err(d[i].r), EIO);
		assert_string_equal(sf_result_value(d[i].r), "why");
		assert_int_equal(sf_result_shared(d[i].r), 1);
	}
	for (int i = 0; i < N; i++)
		sf_result_release(d[i].r);
	assert_int_equal(freed(), 1);

	/* The failed flight is over: the next caller runs fn afresh. */
	r = sf_do(g, "key", fn_job, &j);
	assert_non_null(r);
	assert_int_equal(atomic_load(&j.calls), 2);
	assert_int_equal(sf_result_err(r), EIO);
	assert_int_equal(sf_result_shared(r), 0);
	sf_result_release(r);
	assert_int_equal(freed(), 2);
	gate_destroy(&gt);
	sf_group_free(g);
}

/* ---- 4. forget, and Go issue 31420 -------------------------------------- */

static void
test_forget(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct gate g1, g2;
	struct job j1 = { .gate = &g1, .value = "first" },
	    j2 = { .gate = &g2, .value = "second" }, j3 = { .value = "third" };
	sf_call *c1, *c2, *c3;
	sf_result *r1, *r2, *r3;
	struct doer d;

	(void)state;
	gate_init(&g1);
	gate_init(&g2);
	sf_forget(g, "key");                  /* nothing to forget: no-op */

	c1 = sf_do_async(g, "key", fn_job, &j1);
	assert_non_null(c1);
	gate_wait_entered(&g1, 1);
	sf_forget(g, "key");
	assert_int_equal(sf__group_callers(g, "key"), 0);

	/* The next caller starts flight 2 while flight 1 still runs. */
	c2 = sf_do_async(g, "key", fn_job, &j2);
	assert_non_null(c2);
	gate_wait_entered(&g2, 1);
	assert_int_equal(atomic_load(&j2.calls), 1);

	/* Flight 1 ends; its callers still get its result ... */
	gate_open(&g1);
	r1 = sf_call_wait(c1, -1);
	assert_non_null(r1);
	assert_string_equal(sf_result_value(r1), "first");
	assert_int_equal(sf_result_shared(r1), 0);
	/* ... and it must not have taken flight 2's key with it. */
	assert_int_equal(sf__group_callers(g, "key"), 1);

	/* Callers arriving now join flight 2. */
	c3 = sf_do_async(g, "key", fn_job, &j3);
	assert_non_null(c3);
	doer_start(&d, g, "key", fn_job, &j3);
	wait_callers(g, "key", 3);
	gate_open(&g2);
	r2 = sf_call_wait(c2, -1);
	r3 = sf_call_wait(c3, -1);
	doer_join(&d);
	assert_non_null(r2);
	assert_ptr_equal(r3, r2);
	assert_ptr_equal(d.r, r2);
	assert_string_equal(sf_result_value(r2), "second");
	assert_int_equal(sf_result_shared(r2), 1);
	assert_int_equal(atomic_load(&j1.calls), 1);
	assert_int_equal(atomic_load(&j2.calls), 1);
	assert_int_equal(atomic_load(&j3.calls), 0);
	assert_int_equal(sf__group_flights(g), 0);

	sf_result_release(r1);
	sf_result_release(r2);
	sf_result_release(r3);
	sf_result_release(d.r);
	sf_call_release(c1);
	sf_call_release(c2);
	sf_call_release(c3);
	gate_destroy(&g1);
	gate_destroy(&g2);
	sf_group_free(g);
}

/* fn forgets its own key; the next call is a new flight. */
static int
fn_forget_self(sf_ctx *ctx, void *arg, void **value)
{
	sf_group *g = arg;

	(void)ctx;
	sf_forget(g, "key");
	*value = (void *)"old";
	return 0;
}

static void
test_forget_from_fn(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct job j = { .value = "new" };
	sf_result *r1, *r2;

	(void)state;
	r1 = sf_do(g, "key", fn_forget_self, g);
	assert_non_null(r1);
	assert_string_equal(sf_result_value(r1), "old");
	r2 = sf_do(g, "key", fn_job, &j);
	assert_non_null(r2);
	assert_string_equal(sf_result_value(r2), "new");
	assert_int_equal(sf__group_flights(g), 0);
	sf_result_release(r1);
	sf_result_release(r2);
	sf_group_free(g);
}

/* ---- 5. sf_forget_unshared ---------------------------------------------- */

static void
test_forget_unshared(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct gate g1, g2;
	struct job j1 = { .gate = &g1, .value = "first" },
	    j2 = { .gate = &g2, .value = "second" }, j3 = { .value = "third" };
	sf_call *c1, *c2, *c3, *c4;
	sf_result *r1, *r2, *r3, *r4;

	(void)state;
	gate_init(&g1);
	gate_init(&g2);
	/* No flight for the key: nothing keeps it, report it gone. */
	assert_int_equal(sf_forget_unshared(g, "key"), 1);

	/* Nobody joined: forgotten, and the next caller starts afresh. */
	c1 = sf_do_async(g, "key", fn_job, &j1);
	gate_wait_entered(&g1, 1);
	assert_int_equal(sf_forget_unshared(g, "key"), 1);
	assert_int_equal(sf__group_callers(g, "key"), 0);
	c2 = sf_do_async(g, "key", fn_job, &j2);
	gate_wait_entered(&g2, 1);
	assert_int_equal(atomic_load(&j2.calls), 1);

	/* Somebody joined: it stays, and still takes joiners. */
	c3 = sf_do_async(g, "key", fn_job, &j3);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	assert_int_equal(sf_forget_unshared(g, "key"), 0);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	c4 = sf_do_async(g, "key", fn_job, &j3);
	assert_int_equal(sf__group_callers(g, "key"), 3);

	gate_open(&g1);
	gate_open(&g2);
	r1 = sf_call_wait(c1, -1);
	r2 = sf_call_wait(c2, -1);
	r3 = sf_call_wait(c3, -1);
	r4 = sf_call_wait(c4, -1);
	assert_string_equal(sf_result_value(r1), "first");
	assert_int_equal(sf_result_shared(r1), 0);
	assert_ptr_equal(r3, r2);
	assert_ptr_equal(r4, r2);
	assert_string_equal(sf_result_value(r2), "second");
	assert_int_equal(atomic_load(&j3.calls), 0);
	sf_result_release(r1);
	sf_result_release(r2);
	sf_result_release(r3);
	sf_result_release(r4);
	sf_call_release(c1);
	sf_call_release(c2);
	sf_call_release(c3);
	sf_call_release(c4);
	gate_destroy(&g1);
	gate_destroy(&g2);
	sf_group_free(g);
}

/* ---- 6. sf_do_async, the fd, joining, timeouts --------------------------- */

static void
test_async(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct gate gt;
	struct job j1 = { .gate = &gt, .value = "bar" }, j2 = { .value = "other" };
	sf_call *c1, *c2;
	sf_result *r1, *r2, *again;
	struct doer d;
	int fd1, fd2;

	(void)state;
	gate_init(&gt);
	/* fn blocks on the gate, yet sf_do_async returns. */
	c1 = sf_do_async(g, "key", fn_job, &j1);
	assert_non_null(c1);
	gate_wait_entered(&gt, 1);
	assert_false(pthread_equal(gt.thread, pthread_self()));

	fd1 = sf_call_fd(c1);
	assert_true(fd1 >= 0);
	assert_true(is_cloexec(fd1));
	assert_int_equal(sf_call_fd(c1), fd1);
	assert_false(readable(fd1, 0));

	/* Timeouts leave the flight running and the handle usable. */
	errno = 0;
	assert_null(sf_call_wait(c1, 0));
	assert_int_equal(errno, ETIMEDOUT);
	errno = 0;
	assert_null(sf_call_wait(c1, 20));
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(sf__group_callers(g, "key"), 1);
	assert_int_equal(gate_entered(&gt), 1);

	/* Joiners, asynchronous and not, share the flight. */
	c2 = sf_do_async(g, "key", fn_job, &j2);
	assert_non_null(c2);
	fd2 = sf_call_fd(c2);
	assert_true(fd2 >= 0);
	doer_start(&d, g, "key", fn_job, &j2);
	wait_callers(g, "key", 3);
	assert_false(readable(fd2, 0));

	gate_open(&gt);
	assert_true(readable(fd1, -1));
	assert_true(readable(fd2, -1));
	assert_true(readable(fd1, 0));        /* stays readable */
	r1 = sf_call_wait(c1, 0);
	r2 = sf_call_wait(c2, 0);
	doer_join(&d);
	assert_non_null(r1);
	assert_ptr_equal(r2, r1);
	assert_ptr_equal(d.r, r1);
	assert_string_equal(sf_result_value(r1), "bar");
	assert_int_equal(sf_result_shared(r1), 1);
	assert_int_equal(atomic_load(&j1.calls), 1);
	assert_int_equal(atomic_load(&j2.calls), 0);
	/* Every successful wait is another reference to the same object. */
	again = sf_call_wait(c1, -1);
	assert_ptr_equal(again, r1);

	/* Handle first, then results: either order is fine. */
	sf_call_release(c1);
	sf_result_release(r1);
	sf_result_release(again);
	sf_result_release(d.r);
	sf_result_release(r2);
	sf_call_release(c2);
	gate_destroy(&gt);
	sf_group_free(g);
}

/* An fd asked for after the flight ended is readable at once. */
static void
test_async_fd_after_done(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct job j = { .value = "v" };
	sf_call *c = sf_do_async(g, "key", fn_job, &j);
	sf_result *r;

	(void)state;
	assert_non_null(c);
	r = sf_call_wait(c, -1);
	assert_non_null(r);
	assert_true(readable(sf_call_fd(c), 0));
	assert_int_equal(sf_result_shared(r), 0);
	sf_result_release(r);
	sf_call_release(c);
	sf_group_free(g);
}

/*
 * The worker thread cannot be created: sf_do_async fails with the error of
 * pthread_create and leaves nothing behind.  Injected through the process's
 * default thread attributes (a stack no mmap can satisfy), which the
 * library's pthread_attr_init picks up.
 */
static void
test_async_thread_failure(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct job j = { .value = "v" };
	pthread_attr_t huge, saved;
	sf_call *c;
	sf_result *r;

	(void)state;
	assert_int_equal(pthread_getattr_default_np(&saved), 0);
	assert_int_equal(pthread_attr_init(&huge), 0);
	assert_int_equal(pthread_attr_setstacksize(&huge, (size_t)1 << 46), 0);
	assert_int_equal(pthread_setattr_default_np(&huge), 0);
	errno = 0;
	c = sf_do_async(g, "key", fn_job, &j);
	assert_int_equal(pthread_setattr_default_np(&saved), 0);
	pthread_attr_destroy(&huge);
	pthread_attr_destroy(&saved);

	assert_null(c);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(atomic_load(&j.calls), 0);
	assert_int_equal(sf__group_flights(g), 0);
	assert_int_equal(sf__group_holds(g), 1);
	/* The key is free: the next caller runs fn. */
	c = sf_do_async(g, "key", fn_job, &j);
	assert_non_null(c);
	r = sf_call_wait(c, -1);
	assert_string_equal(sf_result_value(r), "v");
	sf_result_release(r);
	sf_call_release(c);
	sf_group_free(g);
}

/* ---- 7. abandonment ------------------------------------------------------ */

/* fn for the abandonment tests: reports what it sees of cancellation. */
struct watch {
	int wait_cancel;              /* block until cancelled (else on finish) */
	struct latch entered;
	struct latch saw;             /* fn has looked at cancellation */
	struct gate finish;           /* fn may return */
	int fd, fd_cloexec, fd_readable, cancelled;
	atomic_int calls;
};

static void
watch_init(struct watch *w, int wait_cancel)
{
	memset(w, 0, sizeof *w);
	w->wait_cancel = wait_cancel;
	latch_init(&w->entered);
	latch_init(&w->saw);
	gate_init(&w->finish);
}

static void
watch_destroy(struct watch *w)
{
	latch_destroy(&w->entered);
	latch_destroy(&w->saw);
	gate_destroy(&w->finish);
}

static int
fn_watch(sf_ctx *ctx, void *arg, void **value)
{
	struct watch *w = arg;

	atomic_fetch_add(&w->calls, 1);
	w->fd = sf_ctx_fd(ctx);
	w->fd_cloexec = w->fd >= 0 && is_cloexec(w->fd);
	latch_up(&w->entered);
	if (w->wait_cancel) {
		w->fd_readable = readable(w->fd, -1);
	} else {
		gate_pass(&w->finish);
		w->fd_readable = readable(w->fd, 0);
	}
	w->cancelled = sf_ctx_cancelled(ctx);
	latch_up(&w->saw);
	if (w->wait_cancel)
		gate_pass(&w->finish);
	*value = strdup("watched");
	return 0;
}

/* The last handle goes: ctx cancelled (flag and fd), key forgotten at once. */
static void
test_abandon(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct watch w;
	struct job j = { .value = "new", .dup = 1 };
	sf_call *c;
	sf_result *r;

	(void)state;
	watch_init(&w, 1);
	c = sf_do_async(g, "key", fn_watch, &w);
	assert_non_null(c);
	latch_wait(&w.entered, 1);
	assert_true(w.fd >= 0);
	assert_true(w.fd_cloexec);

	sf_call_release(c);
	assert_int_equal(sf__group_callers(g, "key"), 0);
	latch_wait(&w.saw, 1);
	assert_true(w.fd_readable);
	assert_int_equal(w.cancelled, 1);

	/* The cancelled fn still runs; a new caller starts a new flight. */
	r = sf_do(g, "key", fn_job, &j);
	assert_non_null(r);
	assert_int_equal(atomic_load(&j.calls), 1);
	assert_string_equal(sf_result_value(r), "new");
	assert_int_equal(sf_result_shared(r), 0);
	sf_result_release(r);
	assert_int_equal(freed(), 1);

	/* When the abandoned fn returns, its value is freed by the library. */
	gate_open(&w.finish);
	wait_freed(2);
	assert_int_equal(atomic_load(&w.calls), 1);
	watch_destroy(&w);
	sf_group_free(g);
}

/* Every handle of a flight goes: cancelled once the last one is released. */
static void
test_abandon_two_handles(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct watch w;
	sf_call *c1, *c2;

	(void)state;
	watch_init(&w, 1);
	c1 = sf_do_async(g, "key", fn_watch, &w);
	latch_wait(&w.entered, 1);
	c2 = sf_do_async(g, "key", fn_watch, &w);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	sf_call_release(c1);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	assert_int_equal(latch_count(&w.saw), 0);
	sf_call_release(c2);
	assert_int_equal(sf__group_callers(g, "key"), 0);
	latch_wait(&w.saw, 1);
	assert_int_equal(w.cancelled, 1);
	assert_true(w.fd_readable);
	gate_open(&w.finish);
	wait_freed(1);
	watch_destroy(&w);
	sf_group_free(g);
}

/* tailscale 18919: an async joiner that came before abandonment keeps it. */
static void
test_abandon_joiner_keeps_flight(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct watch w;
	struct job j = { .value = "unused", .dup = 1 };
	sf_call *c1, *c2, *c3;
	sf_result *r2, *r3;

	(void)state;
	watch_init(&w, 0);
	c1 = sf_do_async(g, "key", fn_watch, &w);
	latch_wait(&w.entered, 1);
	c2 = sf_do_async(g, "key", fn_job, &j);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	sf_call_release(c1);
	/* Not cancelled, not forgotten: later callers still join. */
	assert_int_equal(sf__group_callers(g, "key"), 2);
	c3 = sf_do_async(g, "key", fn_job, &j);
	assert_int_equal(sf__group_callers(g, "key"), 3);

	gate_open(&w.finish);
	r2 = sf_call_wait(c2, -1);
	r3 = sf_call_wait(c3, -1);
	assert_non_null(r2);
	assert_ptr_equal(r3, r2);
	assert_int_equal(sf_result_err(r2), 0);
	assert_string_equal(sf_result_value(r2), "watched");
	assert_int_equal(sf_result_shared(r2), 1);
	assert_int_equal(w.cancelled, 0);
	assert_false(w.fd_readable);
	assert_int_equal(atomic_load(&j.calls), 0);
	sf_result_release(r2);
	sf_call_release(c2);
	sf_call_release(c3);
	assert_int_equal(freed(), 0);         /* r3 still holds it */
	sf_result_release(r3);
	/* The worker's own reference may be the last: it goes just after. */
	wait_freed(1);
	watch_destroy(&w);
	sf_group_free(g);
}

/* An sf_do caller waiting on an async flight keeps it alive too. */
static void
test_abandon_do_waiter_keeps_flight(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct watch w;
	struct doer d;
	sf_call *c;

	(void)state;
	watch_init(&w, 0);
	c = sf_do_async(g, "key", fn_watch, &w);
	latch_wait(&w.entered, 1);
	doer_start(&d, g, "key", fn_watch, &w);
	wait_callers(g, "key", 2);
	sf_call_release(c);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	gate_open(&w.finish);
	doer_join(&d);
	assert_non_null(d.r);
	assert_int_equal(sf_result_err(d.r), 0);
	assert_string_equal(sf_result_value(d.r), "watched");
	assert_int_equal(w.cancelled, 0);
	assert_int_equal(atomic_load(&w.calls), 1);
	sf_result_release(d.r);
	wait_freed(1);
	watch_destroy(&w);
	sf_group_free(g);
}

/* A flight run by sf_do is never cancelled: its first caller waits for it. */
static void
test_do_flight_never_abandoned(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct watch w;
	struct doer d;
	sf_call *c;

	(void)state;
	watch_init(&w, 0);
	doer_start(&d, g, "key", fn_watch, &w);
	latch_wait(&w.entered, 1);
	c = sf_do_async(g, "key", fn_watch, &w);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	sf_call_release(c);
	assert_int_equal(sf__group_callers(g, "key"), 2);
	gate_open(&w.finish);
	doer_join(&d);
	assert_int_equal(w.cancelled, 0);
	assert_false(w.fd_readable);
	assert_int_equal(sf_result_shared(d.r), 1);
	sf_result_release(d.r);
	assert_int_equal(freed(), 1);
	watch_destroy(&w);
	sf_group_free(g);
}

/* ---- 8. fn's thread exits without returning ----------------------------- */

static int
fn_exit(sf_ctx *ctx, void *arg, void **value)
{
	(void)ctx;
	*value = (void *)"never seen";  /* abandoned by pthread_exit */
	if (arg != NULL)
		gate_pass(arg);
	pthread_exit((void *)(intptr_t)0x5f);
}

static void
test_abort_pthread_exit(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct gate gt;
	struct doer owner, joiner;
	struct job j = { .value = "again", .dup = 1 };
	sf_call *c;
	sf_result *r, *again;
	void *ret;

	(void)state;
	gate_init(&gt);
	doer_start(&owner, g, "key", fn_exit, &gt);
	gate_wait_entered(&gt, 1);
	doer_start(&joiner, g, "key", fn_exit, &gt);
	c = sf_do_async(g, "key", fn_exit, &gt);
	wait_callers(g, "key", 3);
	gate_open(&gt);

	assert_int_equal(pthread_join(owner.t, &ret), 0);
	assert_ptr_equal(ret, (void *)(intptr_t)0x5f);
	doer_join(&joiner);
	assert_non_null(joiner.r);
	assert_int_equal(sf_result_err(joiner.r), SF_EABORTED);
	assert_null(sf_result_value(joiner.r));
	r = sf_call_wait(c, -1);
	assert_ptr_equal(r, joiner.r);
	assert_int_equal(gate_entered(&gt), 1);
	sf_result_release(r);
	sf_result_release(joiner.r);
	sf_call_release(c);
	assert_int_equal(freed(), 0);         /* NULL value: nothing to free */

	/* The aborted flight left the group: the next caller starts afresh. */
	assert_int_equal(sf__group_callers(g, "key"), 0);
	again = sf_do(g, "key", fn_job, &j);
	assert_int_equal(atomic_load(&j.calls), 1);
	assert_int_equal(sf_result_err(again), 0);
	sf_result_release(again);
	gate_destroy(&gt);
	sf_group_free(g);
}

/*
 * The byte read goes into the blocker, not into a local: a thread cancelled
 * inside read() never leaves the frame, and gcc's AddressSanitizer would
 * find that local's poisoned shadow again when the thread is torn down.
 */
struct blocker {
	int entered_w;                /* fn writes a byte here on entry */
	int idle_r;                   /* then reads here, where nobody writes */
	char byte;
};

static int
fn_block_in_read(sf_ctx *ctx, void *arg, void **value)
{
	struct blocker *b = arg;

	(void)ctx;
	(void)value;
	if (write(b->entered_w, "x", 1) != 1)
		return EIO;
	for (;;)                      /* read is a cancellation point */
		if (read(b->idle_r, &b->byte, 1) == -1 && errno != EINTR)
			return EIO;
}

static void
test_abort_cancelled(void **state)
{
	sf_group *g = sf_group_new(NULL);
	struct doer owner;
	struct blocker b;
	sf_call *c;
	sf_result *r;
	int entered[2], idle[2];
	void *ret;
	char ch;

	(void)state;
	assert_int_equal(pipe2(entered, O_CLOEXEC), 0);
	assert_int_equal(pipe2(idle, O_CLOEXEC), 0);
	b = (struct blocker){ .entered_w = entered[1], .idle_r = idle[0] };
	doer_start(&owner, g, "key", fn_block_in_read, &b);
	assert_int_equal(read(entered[0], &ch, 1), 1);
	c = sf_do_async(g, "key", fn_block_in_read, &b);
	assert_non_null(c);
	assert_int_equal(sf__group_callers(g, "key"), 2);

	assert_int_equal(pthread_cancel(owner.t), 0);
	assert_int_equal(pthread_join(owner.t, &ret), 0);
	assert_ptr_equal(ret, PTHREAD_CANCELED);
	r = sf_call_wait(c, -1);
	assert_non_null(r);
	assert_int_equal(sf_result_err(r), SF_EABORTED);
	assert_null(sf_result_value(r));
	assert_int_equal(sf__group_callers(g, "key"), 0);
	sf_result_release(r);
	sf_call_release(c);
	close(entered[0]);
	close(entered[1]);
	close(idle[0]);
	close(idle[1]);
	sf_group_free(g);
}

static int
fn_cancel_self(sf_ctx *ctx, void *arg, void **value)
{
	(void)ctx;
	(void)arg;
	(void)value;
	pthread_cancel(pthread_self());
	pthread_testcancel();
	return 0;
}

/* The same for the thread sf_do_async created: exit, and cancellation. */
static void
test_abort_async_worker(void **state)
{
	sf_group *g = sf_group_new(count_free);
	sf_fn fns[] = { fn_exit, fn_cancel_self };

	(void)state;
	for (unsigned i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		sf_call *c = sf_do_async(g, "key", fns[i], NULL);
		sf_result *r;

		assert_non_null(c);
		r = sf_call_wait(c, -1);
		assert_non_null(r);
		assert_int_equal(sf_result_err(r), SF_EABORTED);
		assert_null(sf_result_value(r));
		assert_true(readable(sf_call_fd(c), 0));
		sf_result_release(r);
		sf_call_release(c);
	}
	assert_int_equal(freed(), 0);
	sf_group_free(g);
}

/* ---- 9. values are freed exactly once, by the last release -------------- */

static void
test_value_freed_once(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct gate gt;
	struct job j = { .gate = &gt, .value = "shared", .dup = 1 },
	    lone = { .value = "lone", .dup = 1 }, none = { .value = NULL };
	struct doer owner, joiner;
	sf_result *r, *rc;
	sf_call *c;

	(void)state;
	/* A lone caller. */
	r = sf_do(g, "lone", fn_job, &lone);
	assert_int_equal(freed(), 0);
	assert_string_equal(sf_result_value(r), "lone");
	sf_result_release(r);
	assert_int_equal(freed(), 1);

	/* Four references to one value, released one by one. */
	gate_init(&gt);
	doer_start(&owner, g, "key", fn_job, &j);
	gate_wait_entered(&gt, 1);
	doer_start(&joiner, g, "key", fn_job, &j);
	c = sf_do_async(g, "key", fn_job, &j);
	wait_callers(g, "key", 3);
	gate_open(&gt);
	doer_join(&owner);
	doer_join(&joiner);
	rc = sf_call_wait(c, -1);
	assert_ptr_equal(rc, owner.r);
	sf_result_release(owner.r);
	assert_string_equal(sf_result_value(rc), "shared");
	sf_call_release(c);
	assert_string_equal(sf_result_value(rc), "shared");
	sf_result_release(joiner.r);
	assert_int_equal(freed(), 1);
	assert_string_equal(sf_result_value(rc), "shared");
	sf_result_release(rc);
	assert_int_equal(freed(), 2);

	/* A NULL value is not passed to value_free. */
	r = sf_do(g, "none", fn_job, &none);
	assert_null(sf_result_value(r));
	sf_result_release(r);
	assert_int_equal(freed(), 2);

	/* A result outlives its group. */
	r = sf_do(g, "lone", fn_job, &lone);
	sf_group_free(g);
	assert_string_equal(sf_result_value(r), "lone");
	assert_int_equal(freed(), 2);
	sf_result_release(r);
	assert_int_equal(freed(), 3);
	gate_destroy(&gt);
}

/* Handles keep the group alive after sf_group_free. */
static void
test_handle_outlives_group(void **state)
{
	sf_group *g = sf_group_new(count_free);
	struct gate gt;
	struct job j = { .gate = &gt, .value = "late", .dup = 1 };
	sf_call *c;
	sf_result *r;

	(void)state;
	gate_init(&gt);
	c = sf_do_async(g, "key", fn_job, &j);
	gate_wait_entered(&gt, 1);
	sf_group_free(g);
	gate_open(&gt);
	r = sf_call_wait(c, -1);
	assert_string_equal(sf_result_value(r), "late");
	sf_call_release(c);
	sf_result_release(r);
	wait_freed(1);
	gate_destroy(&gt);
}

/* ---- what fn may call --------------------------------------------------- */

struct reentry {
	sf_group *g;
	int nested_ok, self_errno, self_wait_errno, cancelled, ctx_fd_ok;
	int renewed_ok;
	sf_call *self_handle;
};

static int
fn_value(sf_ctx *ctx, void *arg, void **value)
{
	(void)ctx;
	*value = arg;
	return 0;
}

static int
fn_reenter(sf_ctx *ctx, void *arg, void **value)
{
	struct reentry *e = arg;
	sf_result *r;
	int fd;

	/* Another key: fine, runs nested in this thread. */
	r = sf_do(e->g, "other", fn_value, (void *)"nested");
	e->nested_ok = r != NULL && strcmp(sf_result_value(r), "nested") == 0;
	sf_result_release(r);

	/* Our own flight: would wait for itself. */
	errno = 0;
	e->self_errno = sf_do(e->g, "key", fn_value, NULL) == NULL ? errno : 0;
	e->self_handle = sf_do_async(e->g, "key", fn_value, NULL);
	errno = 0;
	e->self_wait_errno = e->self_handle != NULL &&
	    sf_call_wait(e->self_handle, -1) == NULL ? errno : 0;
	sf_call_release(e->self_handle);
	/* Releasing that handle must not cancel a flight sf_do runs. */
	e->cancelled = sf_ctx_cancelled(ctx);
	fd = sf_ctx_fd(ctx);
	e->ctx_fd_ok = fd >= 0 && is_cloexec(fd) && !readable(fd, 0);

	/* Once forgotten, the key is free for a new, nested flight. */
	sf_forget(e->g, "key");
	r = sf_do(e->g, "key", fn_value, (void *)"renewed");
	e->renewed_ok = r != NULL && strcmp(sf_result_value(r), "renewed") == 0;
	sf_result_release(r);
	*value = (void *)"outer";
	return 0;
}

static void
test_reentry(void **state)
{
	struct reentry e = { .g = sf_group_new(NULL) };
	sf_result *r;

	(void)state;
	r = sf_do(e.g, "key", fn_reenter, &e);
	assert_non_null(r);
	assert_string_equal(sf_result_value(r), "outer");
	assert_true(e.nested_ok);
	assert_int_equal(e.self_errno, EDEADLK);
	assert_non_null(e.self_handle);
	assert_int_equal(e.self_wait_errno, EDEADLK);
	assert_int_equal(e.cancelled, 0);
	assert_true(e.ctx_fd_ok);
	assert_true(e.renewed_ok);
	assert_int_equal(sf_result_shared(r), 1);  /* the handle joined it */
	assert_int_equal(sf__group_flights(e.g), 0);
	sf_result_release(r);
	sf_group_free(e.g);
}

/*
 * Many flights in the group at once (nested sf_do, no threads): the shard
 * tables grow and every key stays findable.
 */
enum { DEEP = 1000 };

struct deep {
	sf_group *g;
	int depth;
	int all_found;
	size_t flights;
};

static int
fn_deep(sf_ctx *ctx, void *arg, void **value)
{
	struct deep *d = arg;
	char key[32];
	sf_result *r;

	(void)ctx;
	(void)value;
	if (++d->depth < DEEP) {
		snprintf(key, sizeof key, "deep-%d", d->depth);
		r = sf_do(d->g, key, fn_deep, d);
		sf_result_release(r);
		return r == NULL ? ENOMEM : 0;
	}
	d->flights = sf__group_flights(d->g);
	d->all_found = 1;
	for (int i = 0; i < DEEP; i++) {
		snprintf(key, sizeof key, "deep-%d", i);
		if (sf__group_callers(d->g, key) != 1)
			d->all_found = 0;
	}
	return 0;
}

static void
test_many_keys(void **state)
{
	struct deep d = { .g = sf_group_new(NULL) };
	sf_result *r;

	(void)state;
	r = sf_do(d.g, "deep-0", fn_deep, &d);
	assert_non_null(r);
	assert_int_equal(sf_result_err(r), 0);
	assert_int_equal(d.flights, DEEP);
	assert_true(d.all_found);
	assert_int_equal(sf__group_flights(d.g), 0);
	sf_result_release(r);
	sf_group_free(d.g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_do_value_and_error, setup),
		cmocka_unit_test_setup(test_bad_arguments, setup),
		cmocka_unit_test_setup(test_keys_by_content, setup),
		cmocka_unit_test_setup(test_dup_suppress, setup),
		cmocka_unit_test_setup(test_error_shared_then_rerun, setup),
		cmocka_unit_test_setup(test_forget, setup),
		cmocka_unit_test_setup(test_forget_from_fn, setup),
		cmocka_unit_test_setup(test_forget_unshared, setup),
		cmocka_unit_test_setup(test_async, setup),
		cmocka_unit_test_setup(test_async_fd_after_done, setup),
		cmocka_unit_test_setup(test_async_thread_failure, setup),
		cmocka_unit_test_setup(test_abandon, setup),
		cmocka_unit_test_setup(test_abandon_two_handles, setup),
		cmocka_unit_test_setup(test_abandon_joiner_keeps_flight, setup),
		cmocka_unit_test_setup(test_abandon_do_waiter_keeps_flight, setup),
		cmocka_unit_test_setup(test_do_flight_never_abandoned, setup),
		cmocka_unit_test_setup(test_abort_pthread_exit, setup),
		cmocka_unit_test_setup(test_abort_cancelled, setup),
		cmocka_unit_test_setup(test_abort_async_worker, setup),
		cmocka_unit_test_setup(test_value_freed_once, setup),
		cmocka_unit_test_setup(test_handle_outlives_group, setup),
		cmocka_unit_test_setup(test_reentry, setup),
		cmocka_unit_test_setup(test_many_keys, setup),
	};

	hooks_init();
	return cmocka_run_group_tests_name("singleflight group", tests, NULL, NULL);
}
