/*
 * singleflight.h - in-process duplicate call suppression (libsingleflight).
 *
 * A group is a namespace of keys.  sf_do(g, key, fn, arg) runs fn once for
 * all callers that ask for the same key while a call for it is in flight,
 * and hands every one of them the same result; sf_do_async does the same
 * without blocking; sf_forget lets the next caller start afresh.  This is
 * Go's golang.org/x/sync/singleflight for C programs built on pthreads,
 * with cancellation of abandoned flights on top.  Linux only (futex,
 * eventfd).
 *
 * Vocabulary
 *   flight   one execution of fn for a key, from the first caller until fn
 *            returns.  While a flight is "in the group", callers of the same
 *            key join it; it leaves the group when fn returns, when it is
 *            forgotten, or when it is abandoned (see sf_call_release).
 *   caller   every sf_do and every sf_do_async that started or joined a
 *            flight.  The flight is "shared" when it had more than one.
 *
 * Ownership
 *   - Keys are NUL-terminated strings, copied on entry and compared by
 *     content; the caller keeps its own key.
 *   - Every sf_result * handed out (by sf_do, or by each successful
 *     sf_call_wait) is one reference owned by the receiver, who gives it
 *     back with sf_result_release.  All the callers of one flight get the
 *     same object.  The last release calls the group's value_free on the
 *     value (when both are non-NULL), in the releasing thread, exactly once.
 *     A result may outlive its group.
 *   - An sf_call * is owned by the caller of sf_do_async until
 *     sf_call_release.  Handle and results are independent references: they
 *     may be released in either order.
 *   - The sf_ctx * given to fn belongs to the library and is valid until fn
 *     returns; so is the descriptor sf_ctx_fd returns.
 *
 * Threads and locking (group.c gives the field-by-field account)
 *   - All functions are thread-safe.  The group's keys are split across
 *     shards, each a hash table guarded by its own mutex; that mutex also
 *     guards, for each flight in its table, the count of callers and of
 *     interested parties (which decides abandonment).  A result's value,
 *     error and shared flag are written once before the flight ends and
 *     never change after; reference counts are atomic; each flight's lazily
 *     created descriptors have their own small mutex.  No lock is held while
 *     fn, value_free or any other user code runs, and none while a caller
 *     waits (joiners sleep on a futex).
 *   - sf_do runs fn in the thread of the first caller.  sf_do_async runs fn
 *     in a new detached thread created for the flight, which inherits the
 *     signal mask of the thread that called sf_do_async.
 *   - Inside fn any function of this library may be called, on this group
 *     or another, with one exception: waiting for the flight fn itself is
 *     running (sf_do on the same key while the flight is still in the group,
 *     or sf_call_wait on a handle that joined it) can never finish; the
 *     library detects it in the same thread and fails with EDEADLK instead.
 *     A cycle through other threads (fn of key A waits for key B whose fn
 *     waits for key A) is not detected and deadlocks.
 *   - If fn's thread leaves fn without returning (pthread_exit, or
 *     pthread_cancel acted upon inside fn), the flight ends at once with
 *     error SF_EABORTED and a NULL value for every caller; anything fn had
 *     allocated is fn's to clean up with its own cleanup handlers.
 *   - Waiting inside sf_do and sf_call_wait is not a cancellation point.
 *   - The library never prints, exits, or changes signal dispositions, the
 *     umask or any other process-wide state.  Every descriptor it creates
 *     is close-on-exec.
 *
 * Errors
 *   Functions that can fail return NULL or -1 and set errno; fn's own error
 *   travels in the result (sf_result_err), never in errno.
 */
#ifndef SF_SINGLEFLIGHT_H
#define SF_SINGLEFLIGHT_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * SF_EABORTED is the error of a flight whose fn never returned: its thread
 * called pthread_exit or was cancelled inside fn, or (sf_do_async) the
 * thread to run it could not be created.  It is negative and below -4095,
 * so it differs from every errno value and every negated errno value; fn
 * must not return it itself.
 */
#define SF_EABORTED (-29542)

typedef struct sf_group  sf_group;   /* a namespace of keys */
typedef struct sf_result sf_result;  /* one flight's outcome, shared and reference-counted */
typedef struct sf_call   sf_call;    /* a non-blocking handle on a flight (DoChan) */
typedef struct sf_ctx    sf_ctx;     /* what fn sees of its flight */

/*
 * sf_fn is the work of a flight.  ctx describes the flight (see
 * sf_ctx_cancelled), arg is the arg of the caller that started the flight
 * (joiners' args are not used), and *value, NULL on entry, receives the
 * value to share.  Return 0 or an error code of your choosing (an errno
 * value, say); value and error are both handed to every caller, so a value
 * set together with an error is shared and freed like any other.
 */
typedef int  (*sf_fn)(sf_ctx *ctx, void *arg, void **value); /* 0 or an error code */
typedef void (*sf_free_fn)(void *value);

/*
 * sf_group_new returns an empty group, or NULL with errno ENOMEM.
 * value_free, which may be NULL, is called on every non-NULL value when its
 * last reference is released.
 */
sf_group  *sf_group_new(sf_free_fn value_free);  /* value_free may be NULL */

/*
 * sf_group_free gives up the caller's hold on g and returns at once; g may
 * be NULL.  No other function taking g may be running or start afterwards.  Flights started by sf_do_async that are still running
 * (abandoned ones, typically) finish in the background; each keeps g's
 * memory alive until its fn has returned and its value has been released,
 * and unreleased sf_call handles keep it alive too.  Results already handed
 * out stay valid.
 */
void       sf_group_free(sf_group *g);

/*
 * sf_do returns the result of fn(ctx, arg, &value) for key, running fn in
 * the calling thread unless a flight for key is already in the group, in
 * which case it joins that flight and blocks until it ends (fn and arg are
 * then unused).  The result is one reference for the caller to release.
 *
 * Returns NULL and sets errno: EINVAL (g, key or fn NULL), ENOMEM (a new
 * flight could not be allocated; fn did not run), EDEADLK (the calling
 * thread is running the flight it would join, see above).
 */
sf_result *sf_do(sf_group *g, const char *key, sf_fn fn, void *arg);

/*
 * sf_result_value returns the value fn stored: owned by r, valid until the
 * last release of r.
 */
void      *sf_result_value(const sf_result *r);

/* sf_result_err returns fn's return value, or SF_EABORTED. */
int        sf_result_err(const sf_result *r);     /* fn's return, or SF_EABORTED */

/*
 * sf_result_shared returns 1 if the flight had more than one caller (sf_do
 * or sf_do_async, whether or not each one went on to wait), 0 if it had one.
 * Every caller of a flight sees the same answer.
 */
int        sf_result_shared(const sf_result *r);  /* 1 if handed to more than one caller */

/*
 * sf_result_release gives back one reference; r may be NULL.  The last one
 * calls value_free on the value, in the calling thread, then frees r.
 */
void       sf_result_release(sf_result *r);       /* last release calls value_free */

/*
 * sf_do_async starts or joins the flight for key like sf_do but never
 * blocks: it returns a handle at once.  A new flight's fn runs in a new
 * detached thread; the handle is then the flight's only caller.
 *
 * Returns NULL and sets errno: EINVAL, ENOMEM, or the error of
 * pthread_create (EAGAIN).  In the last case the flight could not start;
 * callers that joined it meanwhile get SF_EABORTED.
 */
sf_call   *sf_do_async(sf_group *g, const char *key, sf_fn fn, void *arg);

/*
 * sf_call_fd returns a descriptor that becomes readable (POLLIN) once the
 * result is ready and stays readable; never read from it or close it.  It
 * is created on the first request (close-on-exec, non-blocking), belongs to
 * the flight (handles of one flight may get the same one) and is valid until
 * c is released.  Returns -1 with errno (EINVAL if c is NULL; EMFILE,
 * ENFILE, ENOMEM) if it cannot be created.
 */
int        sf_call_fd(const sf_call *c);          /* readable once the result is ready */

/*
 * sf_call_wait waits up to timeout_ms milliseconds (-1: forever, 0: just
 * look) for the flight of c to end and returns its result as one new
 * reference for the caller; every call that succeeds returns another
 * reference to the same object.  Returns NULL with errno ETIMEDOUT when
 * time is up (the flight goes on, c stays valid), EDEADLK when called from
 * inside the fn of c's own flight, EINVAL when c is NULL.
 */
sf_result *sf_call_wait(sf_call *c, int timeout_ms); /* -1 forever; NULL + errno ETIMEDOUT */

/*
 * sf_call_release gives back the handle; c may be NULL.  It never blocks
 * for the flight.  When the flight is still running and this was its last
 * interested party (no other unreleased handle, no sf_do caller waiting),
 * the flight is abandoned: its ctx becomes cancelled and the group forgets
 * the key at once, so the next caller starts a new flight rather than join
 * a cancelled one.  A caller that joined before this moment keeps the
 * flight alive and uncancelled.  fn goes on until it returns; its value is
 * then freed.
 */
void       sf_call_release(sf_call *c);

/*
 * sf_forget makes the group forget the flight in flight for key, if any:
 * the next caller starts a new one.  The forgotten flight runs on and its
 * callers still get its result; when it ends it leaves alone whatever newer
 * flight holds the key.
 */
void       sf_forget(sf_group *g, const char *key);

/*
 * sf_forget_unshared forgets the flight for key only if nobody joined it
 * (its starter is its only caller so far).  Returns 1 if the key is no
 * longer in the group (forgotten now, or no flight for it), 0 if the flight
 * is shared and stays, -1 with errno EINVAL if g or key is NULL.  This is
 * ForgetUnshared of Go's internal/singleflight: a caller about to give up
 * on a flight uses it to learn whether it may stop the work.
 */
int        sf_forget_unshared(sf_group *g, const char *key); /* 1 if forgotten */

/*
 * sf_ctx_cancelled returns 1 once the flight has been abandoned (see
 * sf_call_release), 0 before.  Only flights started by sf_do_async can be
 * abandoned: the first sf_do caller of a flight always waits for it.
 */
int        sf_ctx_cancelled(const sf_ctx *ctx);   /* 1 once every waiter has abandoned */

/*
 * sf_ctx_fd returns a descriptor that becomes readable (POLLIN) once the
 * flight is cancelled, for fn to poll alongside its own I/O; never read from
 * it or close it.  Created on the first request (close-on-exec,
 * non-blocking), valid until fn returns.  Returns -1 with errno (EMFILE,
 * ENFILE, ENOMEM) if it cannot be created.
 */
int        sf_ctx_fd(const sf_ctx *ctx);          /* readable once cancelled */

#ifdef __cplusplus
}
#endif

#endif /* SF_SINGLEFLIGHT_H */
