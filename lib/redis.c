/*
 * redis.c — the runner's connection to Redis; see redis.h.
 *
 * hiredis's asynchronous context asks its host loop to watch its socket
 * through five hooks (ev.addRead ... ev.cleanup), as its adapters for ae
 * or libevent do; here they map onto sf_loop_watch.  Answers come in the
 * order commands were sent, so a ring of deadlines, one per command,
 * tells when the oldest one is overdue.
 *
 * Lifetime.  hiredis frees its context itself when the connection fails,
 * and defers a free asked for inside one of its callbacks to the end of
 * that callback; in both cases it calls the pending callbacks with NULL
 * and then the cleanup hook.  So this struct is freed by whichever comes
 * last of sf_redis_free and the cleanup hook, never while hiredis or
 * on_io still runs on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>

#include "clock.h"
#include "redis.h"

struct pending {
	sf_redis_reply_fn *fn;
	void *arg;
	long long due;              /* clock.h microseconds */
	long ms;                    /* the time it was given */
};

struct sf_redis {
	sf_loop *loop;
	redisAsyncContext *ac;      /* NULL once hiredis let it go */
	int fd, events;
	long timeout_ms;
	sf_redis_lost_fn *lost;
	void *arg;
	bool owner_gone;            /* sf_redis_free was called */
	int busy;                   /* inside on_io */
	bool failed;                /* lost is due or was told */
	bool oversized;             /* bounded_* refused an answer */
	int err;                    /* ETIMEDOUT: an answer was overdue */
	char why[256];
	struct pending ring[SF_REDIS_QUEUE];
	int head, count;
	struct sf_timer due_timer, lost_timer;
};

/* ---- the URL --------------------------------------------------------------- */

static int
bad(char *cause, size_t causelen, const char *what)
{
	snprintf(cause, causelen, "%s", what);
	errno = EINVAL;
	return -1;
}

int
sf_redis_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int
sf_redis_url_parse(const char *s, struct sf_redis_url *u, char *cause,
    size_t causelen)
{
	const char *p, *at, *end, *colon, *slash, *q;
	size_t n;
	uint64_t v;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(s, "rediss://", 9) == 0)
		return bad(cause, causelen, "rediss:// (TLS) is not supported; "
		    "reach Redis through a local TLS tunnel");
	if (strncmp(s, "unix://", 7) == 0) {
		p = s + 7;
		if (*p != '/')
			return bad(cause, causelen,
			    "unix:// needs an absolute path (unix:///run/redis.sock)");
		q = strchr(p, '?');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		if (n > SF_REDIS_PATH_MAX)
			return bad(cause, causelen, "socket path too long");
		memcpy(u->path, p, n);
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 ||
			    sf_redis_decimal(q + 4, strlen(q + 4), INT32_MAX, &v) == -1)
				return bad(cause, causelen,
				    "unix:// takes only ?db=N after the path");
			u->db = (long)v;
		}
		return 0;
	}
	if (strncmp(s, "redis://", 8) != 0)
		return bad(cause, causelen,
		    "not a Redis URL (redis://HOST[:PORT][/DB] or unix:///PATH)");
	p = s + 8;
	end = p + strlen(p);
	slash = strchr(p, '/');
	if (slash != NULL)
		end = slash;
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		if (memchr(p, ':', (size_t)(at - p)) != NULL)
			return bad(cause, causelen, "a password in the URL would "
			    "show in ps: set SFEXEC_REDIS_PASSWORD instead");
		n = (size_t)(at - p);
		if (n == 0 || n > SF_REDIS_USER_MAX)
			return bad(cause, causelen, "bad user name in the URL");
		memcpy(u->user, p, n);
		p = at + 1;
	}
	if (*p == '[') {                        /* [IPv6] */
		q = memchr(p, ']', (size_t)(end - p));
		if (q == NULL)
			return bad(cause, causelen, "unterminated [address]");
		n = (size_t)(q - p - 1);
		colon = q + 1 < end ? q + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return bad(cause, causelen, "junk after ]");
		p++;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon != NULL ? colon : end) - p);
	}
	if (n == 0 || n > SF_REDIS_HOST_MAX)
		return bad(cause, causelen, "no host in the URL");
	memcpy(u->host, p, n);
	if (strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_:%") != n)
		return bad(cause, causelen, "bad host name in the URL");
	if (colon != NULL) {
		if (sf_redis_decimal(colon + 1, (size_t)(end - colon - 1), 65535,
		    &v) == -1 ||
		    v == 0)
			return bad(cause, causelen, "bad port in the URL");
		u->port = (int)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		if (sf_redis_decimal(slash + 1, strlen(slash + 1), INT32_MAX,
		    &v) == -1)
			return bad(cause, causelen, "bad database number in the URL");
		u->db = (long)v;
	}
	return 0;
}

/* ---- answers of a bounded size -------------------------------------------------- */

/*
 * hiredis 0.14 allocates an array as large as the peer announces
 * ("*2000000000" is 16 GB of pointers) and keeps any string: a Redis that
 * is not one (or a hostile one) could make a runner allocate without
 * bound.  No answer to what sfexec sends has more than a few dozen
 * elements or a string above a stream entry, so larger ones are refused
 * the way hiredis refuses what it cannot allocate: the connection ends.
 */
#define MAX_ELEMENTS 4096
#define MAX_STRING   (1 << 20)

static redisReplyObjectFunctions *hiredis_fns;  /* hiredis's own */
static redisReplyObjectFunctions bounded_fns;

static void *
refuse(const redisReadTask *t)
{
	sf_redis *r = t->privdata;

	if (r != NULL)
		r->oversized = true;
	return NULL;
}

static void *
bounded_array(const redisReadTask *t, int n)
{
	return n > MAX_ELEMENTS ? refuse(t) : hiredis_fns->createArray(t, n);
}

static void *
bounded_string(const redisReadTask *t, char *s, size_t len)
{
	return len > MAX_STRING ? refuse(t) : hiredis_fns->createString(t, s, len);
}

void
sf_redis_bound_reader(redisReader *rd, sf_redis *r)
{
	if (hiredis_fns == NULL) {
		hiredis_fns = rd->fn;
		bounded_fns = *rd->fn;
		bounded_fns.createArray = bounded_array;
		bounded_fns.createString = bounded_string;
	}
	rd->fn = &bounded_fns;
	rd->privdata = r;
}

/* ---- failure ----------------------------------------------------------------- */

static void
tell_lost(void *arg)
{
	sf_redis *r = arg;

	if (!r->owner_gone)
		r->lost(r->arg, r->err, r->why);
}

/* Remember why (the first reason wins) and tell the owner from the loop. */
static void
fail(sf_redis *r, int err, const char *why)
{
	if (r->failed)
		return;
	r->failed = true;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why);
	sf_loop_timer_clear(r->loop, &r->due_timer);
	sf_loop_timer_set(r->loop, &r->lost_timer, sf_clock_us(), tell_lost, r);
}

/* Close the context; hiredis calls the cleanup hook before this returns
 * (or, inside one of its callbacks, when that returns). */
static void
drop(sf_redis *r)
{
	if (r->ac != NULL)
		redisAsyncFree(r->ac);
}

static void
overdue(void *arg)
{
	sf_redis *r = arg;
	char why[64];

	snprintf(why, sizeof(why), "no answer within %.1f s",
	    (double)r->ring[r->head].ms / 1000);
	fail(r, ETIMEDOUT, why);
	drop(r);
}

static void
arm(sf_redis *r)
{
	if (r->count == 0 || r->failed)
		sf_loop_timer_clear(r->loop, &r->due_timer);
	else
		sf_loop_timer_set(r->loop, &r->due_timer, r->ring[r->head].due,
		    overdue, r);
}

/* ---- hiredis's hooks ----------------------------------------------------------- */

static void
on_io(void *arg, int fd, int ready)
{
	sf_redis *r = arg;

	(void)fd;
	r->busy++;
	if ((ready & SF_LOOP_READ) && r->ac != NULL)
		redisAsyncHandleRead(r->ac);
	if ((ready & SF_LOOP_WRITE) && r->ac != NULL)
		redisAsyncHandleWrite(r->ac);
	r->busy--;
	if (r->owner_gone && r->ac == NULL && r->busy == 0)
		free(r);
}

static void
watch(sf_redis *r, int events)
{
	if (events == r->events || r->fd == -1)
		return;
	r->events = events;
	if (events == 0)
		sf_loop_unwatch(r->loop, r->fd);
	else if (sf_loop_watch(r->loop, r->fd, events, on_io, r) == -1) {
		fail(r, ENOMEM, "out of memory");
		drop(r);
	}
}

static void ev_add_read(void *p) { sf_redis *r = p; watch(r, r->events | SF_LOOP_READ); }
static void ev_del_read(void *p) { sf_redis *r = p; watch(r, r->events & ~SF_LOOP_READ); }
static void ev_add_write(void *p) { sf_redis *r = p; watch(r, r->events | SF_LOOP_WRITE); }
static void ev_del_write(void *p) { sf_redis *r = p; watch(r, r->events & ~SF_LOOP_WRITE); }

/* hiredis is done with the context: after the pending callbacks, before
 * the disconnect callback and the context's own free. */
static void
ev_cleanup(void *p)
{
	sf_redis *r = p;
	const char *why;

	watch(r, 0);
	r->fd = -1;
	why = r->oversized ? "an answer larger than any sfexec asks for" :
	    r->ac->errstr[0] != '\0' ? r->ac->errstr : "connection closed";
	r->ac->data = NULL;
	r->ac = NULL;
	if (!r->owner_gone)
		fail(r, ECONNRESET, why);
	else if (r->busy == 0)
		free(r);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	(void)ac;
	(void)status;   /* a failure goes on to ev_cleanup, which tells */
}

/* Every answer comes here first, in the order the commands went. */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	sf_redis *r = privdata;
	struct pending p;

	(void)ac;
	if (r->count == 0)
		return;
	p = r->ring[r->head];
	r->head = (r->head + 1) % SF_REDIS_QUEUE;
	r->count--;
	arm(r);
	if (reply != NULL && !r->owner_gone && !r->failed)
		p.fn(p.arg, reply);
}

/* ---- commands ---------------------------------------------------------------- */

int
sf_redis_command(sf_redis *r, long extra_ms, sf_redis_reply_fn *fn,
    void *arg, int argc, const char **argv, const size_t *lens)
{
	struct pending *p;

	if (r->ac == NULL || r->failed) {
		errno = ENOTCONN;
		return -1;
	}
	if (r->count == SF_REDIS_QUEUE) {
		errno = EAGAIN;
		return -1;
	}
	if (redisAsyncCommandArgv(r->ac, on_reply, r, argc, argv, lens) != REDIS_OK) {
		errno = ENOTCONN;
		return -1;
	}
	p = &r->ring[(r->head + r->count) % SF_REDIS_QUEUE];
	p->fn = fn;
	p->arg = arg;
	p->ms = r->timeout_ms + extra_ms;
	p->due = sf_clock_us() + p->ms * 1000LL;
	if (r->count++ == 0)
		arm(r);
	return 0;
}

int
sf_redis_pending(const sf_redis *r)
{
	return r->count;
}

/* AUTH and SELECT answer +OK, or the connection is no use. */
static void
on_setup(void *arg, redisReply *reply)
{
	sf_redis *r = arg;
	char why[200];

	if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
		return;
	snprintf(why, sizeof(why), "%s", reply->type == REDIS_REPLY_ERROR ?
	    reply->str : "unexpected answer to AUTH or SELECT");
	fail(r, EACCES, why);
	drop(r);
}

sf_redis *
sf_redis_connect(sf_loop *loop, const struct sf_redis_url *u,
    const char *password, long timeout_ms, long first_ms,
    sf_redis_lost_fn *lost, void *arg, char *cause, size_t causelen)
{
	sf_redis *r;
	const char *av[3];
	size_t lens[3];
	char db[16];
	int n = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(cause, causelen, "out of memory");
		return NULL;
	}
	r->loop = loop;
	r->timeout_ms = timeout_ms;
	r->lost = lost;
	r->arg = arg;
	r->fd = -1;
	r->ac = u->path[0] != '\0' ? redisAsyncConnectUnix(u->path) :
	    redisAsyncConnect(u->host, u->port);
	if (r->ac == NULL || r->ac->err) {
		snprintf(cause, causelen, "%s", r->ac != NULL ? r->ac->errstr :
		    "out of memory");
		if (r->ac != NULL)
			redisAsyncFree(r->ac);
		free(r);
		errno = ECONNREFUSED;
		return NULL;
	}
	r->fd = r->ac->c.fd;
	(void)fcntl(r->fd, F_SETFD, FD_CLOEXEC);
	sf_redis_bound_reader(r->ac->c.reader, r);
	r->ac->data = r;
	r->ac->ev.data = r;
	r->ac->ev.addRead = ev_add_read;
	r->ac->ev.delRead = ev_del_read;
	r->ac->ev.addWrite = ev_add_write;
	r->ac->ev.delWrite = ev_del_write;
	r->ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(r->ac, on_connect);
	/* hiredis learns that the connection is up when its socket becomes
	 * writable; it is due with the first answer. */
	ev_add_write(r);
	if (password != NULL) {
		av[n] = "AUTH"; lens[n++] = 4;
		if (u->user[0] != '\0') {
			av[n] = u->user;
			lens[n] = strlen(u->user);
			n++;
		}
		av[n] = password;
		lens[n] = strlen(password);
		n++;
		if (sf_redis_command(r, first_ms - timeout_ms, on_setup, r, n,
		    av, lens) == -1)
			goto fail;
	}
	if (u->db != 0) {
		snprintf(db, sizeof(db), "%ld", u->db);
		av[0] = "SELECT"; lens[0] = 6;
		av[1] = db; lens[1] = strlen(db);
		if (sf_redis_command(r, first_ms - timeout_ms, on_setup, r, 2,
		    av, lens) == -1)
			goto fail;
	}
	return r;
fail:
	snprintf(cause, causelen, "out of memory");
	sf_redis_free(r);
	return NULL;
}

void
sf_redis_free(sf_redis *r)
{
	if (r == NULL)
		return;
	r->owner_gone = true;
	sf_loop_timer_clear(r->loop, &r->due_timer);
	sf_loop_timer_clear(r->loop, &r->lost_timer);
	if (r->ac == NULL) {
		if (r->busy == 0)
			free(r);
		return;
	}
	drop(r);    /* ev_cleanup frees r, now or when hiredis returns */
}
