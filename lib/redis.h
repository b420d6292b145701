/*
 * redis.h — a runner's connection to Redis: the URL, and hiredis's
 * asynchronous context driven by the runner's loop (loop.h), with a
 * deadline on every answer.
 *
 * Only fleet.c and redis.c include this header (and so hiredis): a build
 * without Redis (make REDIS=no) leaves all three out.
 *
 * Failure is one event.  Whatever ends the connection (Redis closed it,
 * the connection was refused, an answer came too late, AUTH or SELECT
 * was refused) is told once, from the loop, through the lost callback,
 * with a line saying why; reply callbacks are never called with NULL.
 */
#ifndef SF_REDIS_H
#define SF_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "loop.h"

#define SF_REDIS_HOST_MAX 255
#define SF_REDIS_USER_MAX 128
#define SF_REDIS_PATH_MAX 107   /* sun_path, with its NUL */

/* A parsed --redis URL. */
struct sf_redis_url {
	char host[SF_REDIS_HOST_MAX + 1];  /* "" for a Unix socket */
	char path[SF_REDIS_PATH_MAX + 1];  /* the socket, or "" */
	char user[SF_REDIS_USER_MAX + 1];  /* ACL user, or "" */
	int port;
	long db;
};

/*
 * sf_redis_url_parse — redis://[USER@]HOST[:PORT][/DB] (HOST a name, an
 * IPv4 address or [IPv6]; PORT 6379 and DB 0 by default) or
 * unix:///PATH[?db=N].  A password in the URL is refused (argv is public:
 * it belongs in SFEXEC_REDIS_PASSWORD), and so is rediss:// (hiredis 0.14
 * has no TLS).  Returns 0, or -1 with errno EINVAL and a one-line reason
 * in cause.
 */
int sf_redis_url_parse(const char *s, struct sf_redis_url *u, char *cause,
    size_t causelen);

/*
 * sf_redis_decimal — s[0, len) is a decimal number of digits only (no
 * sign, no spaces, 1 to 19 digits) of at most max: 0 with *out set, or -1.
 * For URLs and for numbers in what Redis holds (fleet.c).
 */
int sf_redis_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);

typedef struct sf_redis sf_redis;

/* An answer (never NULL, never kept by hiredis after the call returns). */
typedef void sf_redis_reply_fn(void *arg, redisReply *reply);
/* The connection is gone; err is ETIMEDOUT when an answer was overdue
 * (Redis may still be there, paused or cut off), else ECONNRESET (closed,
 * refused), EACCES (AUTH or SELECT refused) or ENOMEM; why is a line
 * without the URL. */
typedef void sf_redis_lost_fn(void *arg, int err, const char *why);

/*
 * sf_redis_connect — start connecting to u on loop, then AUTH (when
 * password is set; with u->user, the ACL form) and SELECT (when u->db is
 * not 0), which go before any command the caller sends.  Every answer is
 * due timeout_ms after its command was sent (plus the command's own
 * extra_ms); AUTH's and SELECT's, first_ms.  The connection itself is due
 * with the first answer, so the caller sends a command at once, with an
 * extra_ms that makes it due first_ms after too.  Returns a connection,
 * or NULL with errno and cause (out of memory, a name that does not
 * resolve).  Its socket is made close-on-exec at once (hiredis 0.14 does
 * not ask for it; the runner is single-threaded and forks nothing in
 * between).
 */
sf_redis *sf_redis_connect(sf_loop *loop, const struct sf_redis_url *u,
    const char *password, long timeout_ms, long first_ms,
    sf_redis_lost_fn *lost, void *arg, char *cause, size_t causelen);

/*
 * sf_redis_command — send argv (binary-safe, argc words); fn(arg, reply)
 * gets the answer, a Redis error included (REDIS_REPLY_ERROR).  extra_ms
 * is added to the answer's deadline (XREAD's BLOCK; negative: due
 * sooner).  Returns 0, or -1
 * when the connection is gone or SF_REDIS_QUEUE commands are unanswered
 * (EAGAIN).
 */
#define SF_REDIS_QUEUE 64
int sf_redis_command(sf_redis *r, long extra_ms, sf_redis_reply_fn *fn,
    void *arg, int argc, const char **argv, const size_t *lens);

/*
 * sf_redis_bound_reader — make rd refuse an answer with more than 4096
 * elements in one array or a string over 1 MiB (no answer to a command of
 * sfexec's has either): hiredis then fails the connection as if out of
 * memory, and r (may be NULL) says why.  sf_redis_connect does it for its
 * own connection; exposed for the fuzz harness, which has no connection.
 */
void sf_redis_bound_reader(redisReader *rd, sf_redis *r);

/* sf_redis_pending — commands sent and not yet answered. */
int sf_redis_pending(const sf_redis *r);

/* sf_redis_free — close (callbacks pending are dropped); safe from inside
 * a reply callback, and on a connection already lost.  NULL is fine. */
void sf_redis_free(sf_redis *r);

#endif
