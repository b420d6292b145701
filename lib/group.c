/*
 * group.c - the in-process singleflight group of singleflight.h.
 *
 * Layout.  A group is NSHARDS shards; a key's hash picks the shard, and
 * each shard is a chained hash table of the flights currently in the group
 * under its own mutex.  A flight and its result are one object (struct
 * sf_result), so every caller of a flight gets the same pointer and the
 * reference count that keeps the result alive also keeps the flight's
 * bookkeeping alive.
 *
 * Who guards what.
 *   shard lock   the shard's table, and of each flight hashed to it: next,
 *                in_group, joins, interest.  A flight is found (and joined)
 *                only under this lock, and it leaves the group (finish,
 *                forget, abandonment) only under it, so a join and an
 *                abandonment can never cross (tailscale issue 18919).
 *   state        the futex word: RUNNING, SLEEPERS (someone may be asleep
 *                on it), DONE.  value, err and shared are written once by
 *                fn's thread before state becomes DONE (release) and read
 *                only after a caller has seen DONE (acquire).
 *   fdlock       done_fd and ctx_fd: created lazily, signalled once.
 *   atomics      refs (references to the object), cancelled, fd_wanted,
 *                and the group's holds.
 *
 * Lock order: shard lock, then fdlock.  No lock is held while user code
 * (fn, value_free) runs or while anyone waits.
 *
 * Lifetimes.  A flight is freed by its last reference: each caller's
 * result or handle, plus the async worker while it runs.  A group is freed
 * by its last hold: the user's (given back by sf_group_free), each
 * unreleased sf_call, each running async worker.  sf_do callers do not take
 * holds: the caller of sf_group_free promises none is running.  This keeps
 * the shared counter off sf_do's path.
 */
#include "singleflight.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/syscall.h>

#define NSHARDS      64u     /* power of two; threads rarely meet on one */
#define SHARD_BITS   6
#define MIN_BUCKETS  8u      /* power of two */
#define SPIN_LIMIT   128     /* polls of state before sleeping on the futex */

#define SF_HIDDEN __attribute__((visibility("hidden")))

enum { RUNNING = 0, SLEEPERS = 1, DONE = 2 };

struct sf_ctx {
	sf_result *flight;
};

struct sf_result {
	/* Immutable after creation. */
	sf_group *g;
	sf_free_fn value_free;         /* copied so a result may outlive g */
	uint64_t hash;
	size_t keylen;
	sf_fn fn;                      /* for the async worker only */
	void *arg;

	/* Guarded by the shard lock (see top of file). */
	sf_result *next;               /* bucket chain, while in_group */
	int in_group;                  /* the shard's table points to us */
	unsigned joins;                /* callers after the first */
	unsigned interest;             /* handles + sf_do callers still waiting */

	atomic_uint refs;
	atomic_int state;              /* futex word */
	atomic_int cancelled;
	atomic_int fd_wanted;          /* someone asked for done_fd or ctx_fd */

	/* Written once before state becomes DONE; read only after. */
	void *value;
	int err;
	int shared;

	pthread_mutex_t fdlock;        /* guards done_fd, ctx_fd */
	int done_fd;
	int ctx_fd;

	struct sf_ctx ctx;
	char key[];
};

struct sf_call {
	sf_result *flight;             /* one reference, and one group hold */
};

struct shard {
	_Alignas(64) pthread_mutex_t lock;  /* own cache line: no false sharing */
	sf_result **buckets;
	size_t nbuckets;
	size_t count;
};

struct sf_group {
	struct shard shards[NSHARDS];
	sf_free_fn value_free;
	uint64_t seed;
	atomic_ulong holds;
};

/*
 * The flights this thread is running, innermost first: a thread about to
 * wait for one of them would wait for itself (EDEADLK).  Only ever touched
 * by its own thread.
 */
struct running {
	sf_result *flight;
	struct running *up;
	int worker;                    /* run by an sf_do_async thread */
};
static _Thread_local struct running *running_here;

static int
is_running_here(const sf_result *f)
{
	for (const struct running *r = running_here; r != NULL; r = r->up)
		if (r->flight == f)
			return 1;
	return 0;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ---- hashing ------------------------------------------------------------ */

static inline uint64_t
mum(uint64_t a, uint64_t b)
{
	__uint128_t p = (__uint128_t)a * b;
	return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* An unaligned 8-byte load that may alias the key's chars. */
typedef uint64_t __attribute__((may_alias, aligned(1))) unaligned_u64;

/*
 * hash_key: a multiply-fold hash in the spirit of wyhash, 8 bytes per step,
 * seeded per group so that keys chosen by a remote party cannot be aimed at
 * one bucket without knowing the seed (Go's maps do the same).  Words are
 * loaded in place, not memcpy'd into a local: sf_do's frame, into which this
 * is inlined, must hold no addressable local (see run()).  The resulting
 * value depends on byte order, which is fine for an in-memory table.
 */
static inline uint64_t
hash_key(uint64_t seed, const char *s, size_t n)
{
	const uint64_t p0 = 0xa0761d6478bd642full, p1 = 0xe7037ed1a0b428dbull;
	uint64_t h = seed ^ mum(n ^ p0, p1);
	uint64_t w;

	while (n > 8) {
		w = *(const unaligned_u64 *)s;
		h = mum(h ^ w, p1);
		s += 8;
		n -= 8;
	}
	if (n == 8) {
		w = *(const unaligned_u64 *)s;
	} else {
		w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)(unsigned char)s[i] << (8 * i);
	}
	return mum(h ^ w ^ p0, p1 ^ seed);
}

static inline struct shard *
shard_of(sf_group *g, uint64_t h)
{
	/* Top bits pick the shard, low bits the bucket: independent choices. */
	return &g->shards[h >> (64 - SHARD_BITS)];
}

/* ---- the shard tables (callers hold the shard lock) --------------------- */

static sf_result **
slot_of(struct shard *s, uint64_t h, const char *key, size_t len)
{
	sf_result **pp = &s->buckets[h & (s->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		sf_result *f = *pp;
		if (f->hash == h && f->keylen == len &&
		    memcmp(f->key, key, len) == 0)
			break;
	}
	return pp;
}

static void
grow(struct shard *s)
{
	size_t n = s->nbuckets * 2;
	sf_result **b = calloc(n, sizeof *b);

	if (b == NULL)
		return;        /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		sf_result *f = s->buckets[i], *next;
		for (; f != NULL; f = next) {
			next = f->next;
			f->next = b[f->hash & (n - 1)];
			b[f->hash & (n - 1)] = f;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* insert: *pp is the empty end of f's chain, as slot_of left it. */
static void
insert(struct shard *s, sf_result **pp, sf_result *f)
{
	f->next = NULL;
	*pp = f;
	f->in_group = 1;
	if (++s->count > s->nbuckets)
		grow(s);
}

static void
unlink_flight(struct shard *s, sf_result *f)
{
	sf_result **pp = &s->buckets[f->hash & (s->nbuckets - 1)];

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	f->next = NULL;
	f->in_group = 0;
	s->count--;
}

/* ---- descriptors -------------------------------------------------------- */

/*
 * Writes and closes are cancellation points; a cancellation acted upon in
 * the middle of our bookkeeping would leave fdlock held or a flight half
 * ended, so library code that does I/O runs with cancellation disabled.
 */
static void
fd_signal(int fd)
{
	int errno_saved = errno, cs;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	(void)eventfd_write(fd, 1);   /* cannot block: counter is far from full */
	pthread_setcancelstate(cs, NULL);
	errno = errno_saved;
}

/*
 * lazy_fd returns *fdp, creating it first if needed and signalling it at
 * once if the event it stands for (flag == want) has already happened.
 * Racing with the event's side: that side sets its flag, then looks at
 * fd_wanted; we set fd_wanted, then look at the flag under fdlock.  Both
 * are seq_cst, so at least one of us sees the other and the fd is signalled.
 */
static int
lazy_fd(sf_result *f, int *fdp, atomic_int *flag, int want)
{
	int fd;

	atomic_store(&f->fd_wanted, 1);
	pthread_mutex_lock(&f->fdlock);
	if (*fdp < 0) {
		*fdp = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (*fdp >= 0 && atomic_load(flag) == want)
			fd_signal(*fdp);
	}
	fd = *fdp;
	pthread_mutex_unlock(&f->fdlock);
	return fd;
}

static void
signal_lazy_fd(sf_result *f, int *fdp)
{
	if (!atomic_load(&f->fd_wanted))
		return;
	pthread_mutex_lock(&f->fdlock);
	if (*fdp >= 0)
		fd_signal(*fdp);
	pthread_mutex_unlock(&f->fdlock);
}

/* ---- flights ------------------------------------------------------------ */

static sf_result *
flight_new(sf_group *g, uint64_t h, const char *key, size_t len)
{
	sf_result *f = malloc(sizeof *f + len + 1);

	if (f == NULL)
		return NULL;
	f->g = g;
	f->value_free = g->value_free;
	f->hash = h;
	f->keylen = len;
	f->fn = NULL;
	f->arg = NULL;
	f->next = NULL;
	f->in_group = 0;
	f->joins = 0;
	f->interest = 1;
	atomic_init(&f->refs, 1);
	atomic_init(&f->state, RUNNING);
	atomic_init(&f->cancelled, 0);
	atomic_init(&f->fd_wanted, 0);
	f->value = NULL;
	f->err = 0;
	f->shared = 0;
	pthread_mutex_init(&f->fdlock, NULL);
	f->done_fd = -1;
	f->ctx_fd = -1;
	f->ctx.flight = f;
	memcpy(f->key, key, len + 1);
	return f;
}

static void
flight_destroy(sf_result *f)
{
	int errno_saved = errno;

	if (f->value != NULL && f->value_free != NULL)
		f->value_free(f->value);
	if (f->done_fd >= 0 || f->ctx_fd >= 0) {
		int cs;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
		if (f->done_fd >= 0)
			close(f->done_fd);
		if (f->ctx_fd >= 0)
			close(f->ctx_fd);
		pthread_setcancelstate(cs, NULL);
	}
	pthread_mutex_destroy(&f->fdlock);
	free(f);
	errno = errno_saved;
}

static inline void notify(void);

static void
group_drop(sf_group *g)
{
	if (atomic_fetch_sub_explicit(&g->holds, 1, memory_order_acq_rel) != 1) {
		notify();
		return;
	}
	for (unsigned i = 0; i < NSHARDS; i++) {
		pthread_mutex_destroy(&g->shards[i].lock);
		free(g->shards[i].buckets);
	}
	free(g);
	notify();
}

static long
futex(atomic_int *word, int op, int val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, ts, NULL,
	    FUTEX_BITSET_MATCH_ANY);
}

/*
 * wait_done blocks until f is DONE or the absolute CLOCK_MONOTONIC deadline
 * passes (NULL: never).  Returns 0 when done, ETIMEDOUT otherwise.  Most
 * flights that are joined are short, so spin briefly before sleeping.
 */
static int
wait_done(sf_result *f, const struct timespec *deadline)
{
	int errno_saved = errno, st;

	for (int i = 0; i < SPIN_LIMIT; i++) {
		if (atomic_load_explicit(&f->state, memory_order_acquire) == DONE)
			return 0;
		cpu_relax();
	}
	for (;;) {
		st = atomic_load_explicit(&f->state, memory_order_acquire);
		if (st == DONE)
			break;
		if (st == RUNNING && !atomic_compare_exchange_weak(&f->state,
		    &st, SLEEPERS))
			continue;
		/* FUTEX_WAIT_BITSET takes an absolute deadline: no drift on EINTR. */
		if (futex(&f->state, FUTEX_WAIT_BITSET, SLEEPERS, deadline) == -1 &&
		    errno == ETIMEDOUT &&
		    atomic_load_explicit(&f->state, memory_order_acquire) != DONE) {
			errno = errno_saved;
			return ETIMEDOUT;
		}
	}
	errno = errno_saved;
	return 0;
}

/*
 * finish ends flight f with value and err: it leaves the group (unless
 * forgotten or abandoned already, in which case the key may now belong to a
 * newer flight that we must leave alone: Go issue 31420), the result is
 * published and every waiter woken.  Called once, by fn's thread.
 */
static void
finish(sf_result *f, void *value, int err)
{
	struct shard *s = shard_of(f->g, f->hash);

	pthread_mutex_lock(&s->lock);
	if (f->in_group)
		unlink_flight(s, f);
	f->shared = f->joins > 0;     /* final: nobody can join any more */
	pthread_mutex_unlock(&s->lock);

	f->value = value;
	f->err = err;
	if (atomic_exchange(&f->state, DONE) == SLEEPERS)
		futex(&f->state, FUTEX_WAKE, INT_MAX, NULL);
	signal_lazy_fd(f, &f->done_fd);
}

static void worker_done(sf_result *f);

/*
 * abort_flight is the cleanup handler around fn: fn's thread is leaving it
 * by pthread_exit or cancellation, so end the flight with SF_EABORTED and
 * give back the references this thread would have given back (the sf_do
 * caller's result, which nobody will receive now, or the worker's).
 */
static void
abort_flight(void *p)
{
	struct running *r = p;

	running_here = r->up;
	finish(r->flight, NULL, SF_EABORTED);
	if (r->worker)
		worker_done(r->flight);
	else
		sf_result_release(r->flight);
}

/*
 * run calls fn under a cleanup handler.  It is left out of AddressSanitizer
 * instrumentation on purpose: when fn's thread is cancelled or exits, glibc
 * unwinds by longjmp into this frame past frames whose redzones stay
 * poisoned, and the __asan_handle_no_return call ASan would put before
 * __pthread_unwind_next trips over them (a false positive of gcc 12's
 * libasan, reproducible at -O1; the same stale shadow trips libasan's own
 * thread teardown, which is why sf_do's frame, alive across fn, keeps no
 * addressable local).  abort_flight and everything it calls stay
 * instrumented; every instrumented frame rewrites its own shadow on entry.
 */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
/* noinline: inlined into sf_do, it would be instrumented after all. */
__attribute__((no_sanitize_address, noinline))
#endif
#endif
static void
run(sf_result *f, sf_fn fn, void *arg, int worker)
{
	struct running r = { .flight = f, .up = running_here, .worker = worker };
	void *value = NULL;
	int err;

	running_here = &r;
	pthread_cleanup_push(abort_flight, &r);
	err = fn(&f->ctx, arg, &value);
	pthread_cleanup_pop(0);
	running_here = r.up;
	finish(f, value, err);
}

/*
 * worker_done gives back the worker's hold on the group, then its
 * reference on the flight: in this order, whoever frees the value knows
 * (through refs) that the worker is done with the group too.
 */
static void
worker_done(sf_result *f)
{
	group_drop(f->g);
	sf_result_release(f);
}

static void *
worker(void *p)
{
	sf_result *f = p;

	run(f, f->fn, f->arg, 1);
	worker_done(f);
	return NULL;
}

/*
 * sf__notify, when set (by tests, before any thread uses the library), is
 * called outside any lock after each caller has joined a flight and after
 * each hold on a group is given back, so that tests can wait for joiners
 * or for a quiet group on a condition variable instead of sleeping.
 */
SF_HIDDEN void (*sf__notify)(void);

static inline void
notify(void)
{
	if (sf__notify != NULL)
		sf__notify();
}

/*
 * join takes f for one more caller: the caller of a result (sf_do) or of a
 * handle (sf_do_async).  Shard lock held.
 */
static void
join(sf_result *f)
{
	f->joins++;
	f->interest++;
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

/* ---- public API --------------------------------------------------------- */

sf_group *
sf_group_new(sf_free_fn value_free)
{
	sf_group *g = aligned_alloc(_Alignof(sf_group), sizeof *g);
	unsigned i;

	if (g == NULL)
		return NULL;
	g->value_free = value_free;
	atomic_init(&g->holds, 1);
	if (getrandom(&g->seed, sizeof g->seed, GRND_NONBLOCK) != sizeof g->seed) {
		/* No entropy yet (early boot): weaker, still varies per group. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		g->seed = mum((uint64_t)(uintptr_t)g ^ (uint64_t)ts.tv_nsec,
		    (uint64_t)ts.tv_sec ^ 0x9e3779b97f4a7c15ull);
	}
	for (i = 0; i < NSHARDS; i++) {
		struct shard *s = &g->shards[i];
		s->buckets = calloc(MIN_BUCKETS, sizeof *s->buckets);
		if (s->buckets == NULL)
			goto fail;
		s->nbuckets = MIN_BUCKETS;
		s->count = 0;
		pthread_mutex_init(&s->lock, NULL);
	}
	return g;
fail:
	while (i-- > 0) {
		pthread_mutex_destroy(&g->shards[i].lock);
		free(g->shards[i].buckets);
	}
	free(g);
	errno = ENOMEM;
	return NULL;
}

void
sf_group_free(sf_group *g)
{
	if (g != NULL)
		group_drop(g);
}

sf_result *
sf_do(sf_group *g, const char *key, sf_fn fn, void *arg)
{
	sf_result *f, *nf, **pp;
	struct shard *s;
	size_t len;
	uint64_t h;

	if (g == NULL || key == NULL || fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(key);
	h = hash_key(g->seed, key, len);
	s = shard_of(g, h);
	/* Allocate before locking: keeps the critical section short. */
	nf = flight_new(g, h, key, len);

	pthread_mutex_lock(&s->lock);
	pp = slot_of(s, h, key, len);
	if ((f = *pp) != NULL) {
		if (is_running_here(f)) {
			pthread_mutex_unlock(&s->lock);
			if (nf != NULL)
				flight_destroy(nf);
			errno = EDEADLK;
			return NULL;
		}
		join(f);
		pthread_mutex_unlock(&s->lock);
		if (nf != NULL)
			flight_destroy(nf);
		notify();
		wait_done(f, NULL);
		return f;
	}
	if (nf == NULL) {
		pthread_mutex_unlock(&s->lock);
		errno = ENOMEM;
		return NULL;
	}
	insert(s, pp, nf);
	pthread_mutex_unlock(&s->lock);

	run(nf, fn, arg, 0);
	return nf;
}

void *
sf_result_value(const sf_result *r)
{
	return r->value;
}

int
sf_result_err(const sf_result *r)
{
	return r->err;
}

int
sf_result_shared(const sf_result *r)
{
	return r->shared;
}

void
sf_result_release(sf_result *r)
{
	if (r != NULL &&
	    atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		flight_destroy(r);
}

sf_call *
sf_do_async(sf_group *g, const char *key, sf_fn fn, void *arg)
{
	sf_result *f, *nf, **pp;
	pthread_attr_t attr;
	struct shard *s;
	pthread_t t;
	sf_call *c;
	size_t len;
	uint64_t h;
	int rc;

	if (g == NULL || key == NULL || fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = malloc(sizeof *c)) == NULL)
		return NULL;
	len = strlen(key);
	h = hash_key(g->seed, key, len);
	s = shard_of(g, h);
	nf = flight_new(g, h, key, len);

	pthread_mutex_lock(&s->lock);
	pp = slot_of(s, h, key, len);
	if ((f = *pp) != NULL) {
		join(f);
		pthread_mutex_unlock(&s->lock);
		if (nf != NULL)
			flight_destroy(nf);
		atomic_fetch_add(&g->holds, 1);
		c->flight = f;
		notify();
		return c;
	}
	if (nf == NULL) {
		pthread_mutex_unlock(&s->lock);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	nf->fn = fn;
	nf->arg = arg;
	atomic_init(&nf->refs, 2);            /* the handle's and the worker's */
	insert(s, pp, nf);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&g->holds, 2);       /* likewise */
	c->flight = nf;

	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, worker, nf);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		/* Callers may have joined already: end the flight for them. */
		finish(nf, NULL, SF_EABORTED);
		worker_done(nf);
		sf_call_release(c);
		errno = rc;
		return NULL;
	}
	return c;
}

int
sf_call_fd(const sf_call *c)
{
	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	return lazy_fd(c->flight, &c->flight->done_fd, &c->flight->state, DONE);
}

sf_result *
sf_call_wait(sf_call *c, int timeout_ms)
{
	struct timespec deadline, *dl = NULL;
	sf_result *f;

	if (c == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = c->flight;
	if (atomic_load_explicit(&f->state, memory_order_acquire) != DONE) {
		if (is_running_here(f)) {
			errno = EDEADLK;
			return NULL;
		}
		if (timeout_ms == 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
		if (timeout_ms > 0) {
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += timeout_ms / 1000;
			deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			dl = &deadline;
		}
		if (wait_done(f, dl) != 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
	}
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void
sf_call_release(sf_call *c)
{
	sf_result *f;
	sf_group *g;
	int cancel = 0;

	if (c == NULL)
		return;
	f = c->flight;
	g = f->g;
	if (atomic_load_explicit(&f->state, memory_order_acquire) != DONE) {
		struct shard *s = shard_of(g, f->hash);

		pthread_mutex_lock(&s->lock);
		if (--f->interest == 0 && atomic_load(&f->state) != DONE) {
			/*
			 * Nobody wants the result: cancel, and forget the key
			 * in the same critical section, so that nobody can
			 * join a flight that is cancelled.
			 */
			atomic_store(&f->cancelled, 1);
			if (f->in_group)
				unlink_flight(s, f);
			cancel = 1;
		}
		pthread_mutex_unlock(&s->lock);
		if (cancel)
			signal_lazy_fd(f, &f->ctx_fd);
	}
	sf_result_release(f);
	free(c);
	group_drop(g);
}

static sf_result *
find(sf_group *g, const char *key, struct shard **sp)
{
	size_t len = strlen(key);
	uint64_t h = hash_key(g->seed, key, len);
	struct shard *s = shard_of(g, h);

	*sp = s;
	pthread_mutex_lock(&s->lock);
	return *slot_of(s, h, key, len);
}

void
sf_forget(sf_group *g, const char *key)
{
	struct shard *s;
	sf_result *f;

	if (g == NULL || key == NULL)
		return;
	if ((f = find(g, key, &s)) != NULL)
		unlink_flight(s, f);
	pthread_mutex_unlock(&s->lock);
}

int
sf_forget_unshared(sf_group *g, const char *key)
{
	struct shard *s;
	sf_result *f;
	int forgotten = 1;

	if (g == NULL || key == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((f = find(g, key, &s)) != NULL) {
		if (f->joins == 0)
			unlink_flight(s, f);
		else
			forgotten = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return forgotten;
}

int
sf_ctx_cancelled(const sf_ctx *ctx)
{
	return atomic_load(&ctx->flight->cancelled);
}

int
sf_ctx_fd(const sf_ctx *ctx)
{
	sf_result *f = ctx->flight;

	return lazy_fd(f, &f->ctx_fd, &f->cancelled, 1);
}

/* ---- test hooks (not in the header, not exported from the .so) ----------- */

/*
 * sf__group_callers returns how many callers the flight in the group for
 * key has had (0: none in the group), so that tests can wait for joiners to
 * be queued instead of sleeping.
 */
SF_HIDDEN unsigned
sf__group_callers(sf_group *g, const char *key)
{
	struct shard *s;
	sf_result *f = find(g, key, &s);
	unsigned n = f != NULL ? f->joins + 1 : 0;

	pthread_mutex_unlock(&s->lock);
	return n;
}

/* sf__group_flights returns how many flights are in the group. */
SF_HIDDEN size_t
sf__group_flights(sf_group *g)
{
	size_t n = 0;

	for (unsigned i = 0; i < NSHARDS; i++) {
		pthread_mutex_lock(&g->shards[i].lock);
		n += g->shards[i].count;
		pthread_mutex_unlock(&g->shards[i].lock);
	}
	return n;
}

/* sf__group_holds returns the group's hold count (1: only the user's). */
SF_HIDDEN unsigned long
sf__group_holds(sf_group *g)
{
	return atomic_load(&g->holds);
}
