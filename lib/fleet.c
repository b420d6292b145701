/*
 * fleet.c — a flight across hosts, on Redis; see fleet.h for the parts
 * and the keys.
 *
 * Timing.  The leader renews its lease every third of it; an answer that
 * does not come within the lease ends the connection (redis.c), and the
 * lease counts as lost from when the last renewal that succeeded was sent
 * plus the lease, so the leader stops its command no later than any other
 * host may start a new one.  A follower blocks on the stream for at most
 * POLL_MS at a time and between two reads checks that the lease is still
 * the one it follows (which also renews its presence): a leader that died
 * or froze is noticed within the lease plus two polls.
 *
 * Redis failing.  A leader whose connection closes (Redis killed or
 * restarted) or whose writes Redis refuses (maxmemory, a key of the wrong
 * type) stops publishing and finishes the flight for its own host: its
 * invocations read the local spools.  Its followers notice that the lease
 * is no longer renewed, or sooner, when the leader could still give it
 * back.  A follower whose connection fails ends at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "control.h"
#include "fleet.h"
#include "order.h"
#include "redis.h"

#define POLL_MS       500       /* longest XREAD BLOCK */
#define READ_COUNT    "4"       /* stream entries per XREAD */
#define INFLIGHT      4         /* chunks sent and not yet confirmed */
#define ELECT_RETRY_MS 100      /* a stopping flight's lease: ask again */
#define CONNECT_MS    2000      /* at start: Redis must answer within this */

#define KEEP_MS_TEXT  "60000"   /* SF_FLEET_KEEP_MS */

/* ---- the scripts --------------------------------------------------------------- */

/* Redis's clock in milliseconds, for presence: the hosts' clocks may differ. */
#define NOW_MS "local t = redis.call('TIME') " \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

/*
 * The key that holds a leader's or a follower's lease value v: the lease,
 * or, once the flight was forgotten (--forget --redis), FENCE:forgotten,
 * where the lease went so that newcomers start a new flight while this one
 * runs on for those attached.  KEYS[1] is always the lease.
 */
#define OURS "local function ours(v) " \
    "  if redis.call('GET', KEYS[1]) == v then return KEYS[1] end " \
    "  local f = string.match(v, '^!?(%d+):') " \
    "  local k = f and string.sub(KEYS[1], 1, -6) .. f .. ':forgotten' " \
    "  if k and redis.call('GET', k) == v then return k end " \
    "  return nil " \
    "end "

/*
 * KEYS lease, fence, cache; ARGV ":TOKEN:PID:HOST", lease ms, member, TTL
 * ms (0: none) followed by "n" for -n; the flight's keys begin as the
 * lease's does, "P{NAME}:".  {1, v} we lead; {0, v} we follow v (and are
 * present); {2, v} a flight is stopping; {3, v} the lease is not ours to
 * read; {4, v} no flight, but v's result, stored less than the TTL ago, is
 * there to replay; {5, v} -n, and flight v runs (or stops).  Ten words in
 * all: Redis refuses more from a client that has not authenticated, and
 * NOAUTH is then the clearer answer.
 */
static const char elect_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local ttl = tonumber(string.match(ARGV[4], '^%d+')) "
    "if not v then "
    "  local c = ttl > 0 and redis.call('GET', KEYS[3]) "
    "  if c then "
    "    local e, cv = string.match(c, '^(%d+) (.+)$') "
    "    " NOW_MS
    "    if e and now - tonumber(e) < ttl then "
    "      return {4, cv} "
    "    end "
    "  end "
    "  local f = redis.call('INCR', KEYS[2]) "
    "  v = f .. ARGV[1] "
    "  redis.call('SET', KEYS[1], v, 'PX', ARGV[2]) "
    "  return {1, v} "
    "end "
    "if string.sub(ARGV[4], -1) == 'n' then return {5, v} end "
    "if string.sub(v, 1, 1) == '!' then return {2, v} end "
    "local f = string.match(v, '^(%d+):') "
    "if not f then return {3, v} end "
    NOW_MS
    "local p = string.sub(KEYS[1], 1, -6) .. f .. ':presence' "
    "redis.call('ZADD', p, now + tonumber(ARGV[2]), ARGV[3]) "
    "redis.call('PEXPIRE', p, 2 * tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "return {0, v}";

/* KEYS lease, presence; ARGV v, lease ms, member: 1 still following, 2
 * following a forgotten flight, 0 not any more. */
static const char touch_lua[] =
    OURS
    "local h = ours(ARGV[1]) "
    "if not h then return 0 end "
    NOW_MS
    "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3]) "
    "redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "return h == KEYS[1] and 1 or 2";

/* KEYS lease, out, presence, cancel; ARGV v, lease ms, "abandon" or "":
 * {-1, -1, 0} not ours; else {the followers present, the grace of a
 * --cancel asked for since (sf_fleet_steer) or -1, 1 if forgotten}; with
 * "abandon" and no follower, the lease is marked stopping ("!" v). */
static const char renew_lua[] =
    OURS
    "local h = ours(ARGV[1]) "
    "if not h then return {-1, -1, 0} end "
    "redis.call('PEXPIRE', h, ARGV[2]) "
    "if redis.call('EXISTS', KEYS[2]) == 1 then "
    "  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "end "
    NOW_MS
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) "
    "local n = redis.call('ZCARD', KEYS[3]) "
    "if n == 0 and ARGV[3] == 'abandon' then "
    "  redis.call('SET', h, '!' .. ARGV[1], 'KEEPTTL') "
    "end "
    "local g = tonumber(redis.call('GET', KEYS[4]) or '') "
    "if g then redis.call('DEL', KEYS[4]) end "
    "return {n, g or -1, h == KEYS[1] and 0 or 1}";

/* KEYS lease, cache; no ARGV: forget the key fleet-wide: the stored result
 * goes, and the running flight's lease moves to FENCE:forgotten (OURS),
 * which no newcomer reads.  1 if either was there. */
static const char forget_lua[] =
    "local done = redis.call('DEL', KEYS[2]) "
    "local v = redis.call('GET', KEYS[1]) "
    "local f = v and string.match(v, '^(%d+):') "
    "if f then "
    "  redis.call('SET', string.sub(KEYS[1], 1, -6) .. f .. ':forgotten', v, "
    "      'PX', math.max(redis.call('PTTL', KEYS[1]), 1)) "
    "  redis.call('DEL', KEYS[1]) "
    "  done = 1 "
    "end "
    "return done";

/* KEYS lease; ARGV grace ms, how long the request stands: ask the running
 * flight's leader to cancel (it hears it with its next renewal).  1 asked,
 * 0 no flight (or one stopping already). */
static const char cancel_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local f = v and string.match(v, '^(%d+):') "
    "if not f then return 0 end "
    "redis.call('SET', string.sub(KEYS[1], 1, -6) .. f .. ':cancel', "
    "    ARGV[1], 'PX', ARGV[2]) "
    "return 1";

/*
 * The ID no entry can follow: XADD * after it fails ("the stream has
 * exhausted the last possible ID").  The guard puts an entry "lost" there
 * to close a stream whose leader lost its lease.
 */
#define CLOSED_ID "18446744073709551615-18446744073709551615"

/*
 * KEYS lease, out, meta; ARGV v, lease ms, "o" or "e", the chunk's size:
 * the first command of the transaction that appends a chunk (send_chunk).
 * The chunk itself does not pass through Lua, which would hash every byte
 * of it (a third of Redis's time at full speed): 1 the lease is ours, and
 * the XADD after us adds the chunk; 0 it is not, and the stream is closed
 * so that the XADD fails, in this transaction and in any later one.  A
 * transaction runs on past a command that fails, so the guard must not
 * fail: an error is taken as "not ours" (a lease of the wrong type), and
 * the meta (for --list only) may be junk.
 */
static const char guard_lua[] =
    OURS
    "local ok, h = pcall(ours, ARGV[1]) "
    "if not (ok and h) then "
    "  redis.pcall('XADD', KEYS[2], '" CLOSED_ID "', 'lost', '1') "
    "  if redis.pcall('PTTL', KEYS[2]) == -1 then "
    "    redis.pcall('PEXPIRE', KEYS[2], " KEEP_MS_TEXT ") "
    "  end "
    "  return 0 "
    "end "
    "redis.pcall('HINCRBY', KEYS[3], ARGV[3], ARGV[4]) "
    "redis.pcall('PEXPIRE', KEYS[3], tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "return 1";

/* KEYS lease, out, presence, cache, meta; ARGV v, lease ms, "end" or "", then
 * the entry's fields and values (the end, or "big"): 0 not ours, 1 added.
 * "end": the flight is over and the second argument is how long to keep
 * its result (0: not a result to keep); the stream is kept at least
 * SF_FLEET_KEEP_MS for late readers, and as long as the result when there
 * is one, which the cache key then names: "ENDED_MS V" (V without a
 * stopping mark). */
static const char append_lua[] =
    OURS
    "local h = ours(ARGV[1]) "
    "if not h then return 0 end "
    "local e = {} "
    "for i = 4, #ARGV do e[#e + 1] = ARGV[i] end "
    "redis.call('XADD', KEYS[2], '*', unpack(e)) "
    "if ARGV[3] == 'end' then "
    "  local keep = tonumber(ARGV[2]) "
    "  redis.call('PEXPIRE', KEYS[2], math.max(keep, " KEEP_MS_TEXT ")) "
    "  redis.call('PEXPIRE', KEYS[5], math.max(keep, " KEEP_MS_TEXT ")) "
    "  if keep > 0 and h == KEYS[1] then "
    "    local v = string.gsub(ARGV[1], '^!', '') "
    "    " NOW_MS
    "    redis.call('SET', KEYS[4], now .. ' ' .. v, 'PX', keep) "
    "  end "
    "  redis.call('DEL', h, KEYS[3]) "
    "else "
    "  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[2]) + " KEEP_MS_TEXT ") "
    "end "
    "return 1";

/*
 * ARGV "P{NAME}:" (no key declared: the flight's keys are named by what
 * the lease and the cache key say; all of them share the hash tag): what
 * --list shows of the key, fifteen strings, "" for what is not there:
 * the lease; the flight's meta (started, argv, cut, o, e) and followers;
 * the cache key, its PTTL, the stored flight's meta, its end entry's line.
 */
static const char inspect_lua[] =
    "local b = ARGV[1] "
    "local r = {} "
    "local function meta(f) "
    "  local m = redis.call('HMGET', b .. f .. ':meta', 'started', 'argv', "
    "      'cut', 'o', 'e') "
    "  for i = 1, 5 do r[#r + 1] = m[i] or '' end "
    "end "
    "local function blank(n) for i = 1, n do r[#r + 1] = '' end end "
    "local v = redis.call('GET', b .. 'lease') "
    "r[1] = v or '' "
    "local f = v and string.match(v, '^!?(%d+):') "
    "if f then "
    "  meta(f) "
    "  r[#r + 1] = tostring(redis.call('ZCARD', b .. f .. ':presence')) "
    "else blank(6) end "
    "local c = redis.call('GET', b .. 'cache') "
    "r[#r + 1] = c or '' "
    "local cf = c and string.match(c, '^%d+ (%d+):') "
    "if cf then "
    "  r[#r + 1] = tostring(redis.call('PTTL', b .. 'cache')) "
    "  meta(cf) "
    "  local e = redis.call('XREVRANGE', b .. cf .. ':out', '+', '-', "
    "      'COUNT', 1) "
    "  if e[1] and e[1][2][1] == 'x' then r[#r + 1] = e[1][2][2] "
    "  else r[#r + 1] = '' end "
    "else blank(7) end "
    "return r";

/* KEYS out, cache; ARGV v (without a stopping mark), keep ms, fence: the
 * result of flight v, over, is one to keep after all (a late --ttl):
 * unless its stream is gone or a later flight's result is stored. */
static const char keep_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "local c = redis.call('GET', KEYS[2]) "
    "local f = c and string.match(c, '^%d+ (%d+):') "
    "if f and tonumber(f) > tonumber(ARGV[3]) then return 0 end "
    NOW_MS
    "redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[2]), "
    "    redis.call('PTTL', KEYS[1]))) "
    "redis.call('SET', KEYS[2], now .. ' ' .. ARGV[1], 'PX', ARGV[2]) "
    "return 1";

/* KEYS lease, presence; ARGV v: let the lease go if it is still ours. */
static const char release_lua[] =
    OURS
    "local h = ours(ARGV[1]) "
    "if not h then return 0 end "
    "redis.call('DEL', h, KEYS[2]) "
    "return 1";

/* ---- state ------------------------------------------------------------------- */

#define KEY_MAX 200
#define VALUE_MAX 400

struct sf_fleet_impl {
	sf_redis *rc;               /* NULL once lost or let go */
	struct sf_redis_url url;
	char base[KEY_MAX - 20];    /* PREFIX{NAME}: */
	char k_lease[KEY_MAX], k_fence[KEY_MAX], k_out[KEY_MAX],
	     k_presence[KEY_MAX], k_cache[KEY_MAX], k_cancel[KEY_MAX],
	     k_meta[KEY_MAX];
	char value[VALUE_MAX + 2];  /* the lease's value we hold or follow */
	char suffix[VALUE_MAX];     /* ":TOKEN:PID:HOST" */
	char member[340];           /* HOST:PID:TOKEN, our presence */
	long lease_ms, poll_ms;
	struct sf_timer tick;       /* renew, or touch; election retry */
	struct sf_timer lease_due;  /* leader: the lease runs out */
	long long renew_sent;       /* when the renewal in flight went */
	bool renewing, releasing, finish_sent;
	bool detached;              /* leader: this host only from now on */
	/* leader: publishing */
	struct sf_order order;
	uint64_t pos[2];            /* bytes sent of stdout, stderr */
	uint64_t published;
	int inflight;
	bool big, finishing;
	struct sf_msg fin;
	uint64_t keep_ms;           /* the result's, 0: none to keep */
	bool finished;              /* the end is in Redis */
	char refused[200];          /* why Redis refused part of a chunk */
	int keeping;                /* sf_fleet_keep's, unanswered */
	/* follower: reading */
	char last_id[64];
	uint64_t got[2];
	bool reading, touching, draining, left;
	bool replaying;             /* a stored result, not a live flight */
	long long touched;          /* when the last touch went */
	uint8_t buf[SF_FLEET_CHUNK];
};

static void publish(struct sf_fleet *f);
static void read_more(struct sf_fleet *f, bool block);

/* ---- helpers ------------------------------------------------------------------- */

static int
eval(struct sf_fleet *f, long extra_ms, sf_redis_reply_fn *fn,
    const char *script, int nkeys, const char **keys, int nargs,
    const char **args, const size_t *arglens)
{
	const char *av[16];
	size_t lens[16];
	char nk[4];
	int n = 0, i;

	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[n] = "EVAL"; lens[n++] = 4;
	av[n] = script; lens[n++] = strlen(script);
	av[n] = nk; lens[n++] = strlen(nk);
	for (i = 0; i < nkeys; i++, n++) {
		av[n] = keys[i];
		lens[n] = strlen(keys[i]);
	}
	for (i = 0; i < nargs; i++, n++) {
		av[n] = args[i];
		lens[n] = arglens != NULL ? arglens[i] : strlen(args[i]);
	}
	return sf_redis_command(f->impl->rc, extra_ms, fn, f, n, av, lens);
}

static void
let_go(struct sf_fleet *f)
{
	struct sf_fleet_impl *m = f->impl;

	sf_redis_free(m->rc);
	m->rc = NULL;
	sf_loop_timer_clear(f->loop, &m->tick);
	sf_loop_timer_clear(f->loop, &m->lease_due);
	f->settled = true;
}

/*
 * A lease's value, "FENCE:TOKEN:PID:HOST": the fence (not checked when
 * fence is NULL), the pid, and where the host name (1 to 255 bytes) lies in
 * v.  0, or -1 when v is not of that shape.
 */
static int
split_lease(const char *v, size_t len, uint64_t *fence, uint64_t *pid,
    const char **host, size_t *hostlen)
{
	const char *c1, *c2, *c3, *end = v + len;

	if ((c1 = memchr(v, ':', len)) == NULL ||
	    (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))) == NULL ||
	    (c3 = memchr(c2 + 1, ':', (size_t)(end - c2 - 1))) == NULL ||
	    (fence != NULL &&
	    sf_redis_decimal(v, (size_t)(c1 - v), UINT64_MAX, fence) == -1) ||
	    sf_redis_decimal(c2 + 1, (size_t)(c3 - c2 - 1), INT32_MAX, pid) == -1 ||
	    end - c3 - 1 < 1 || end - c3 - 1 > 255)
		return -1;
	*host = c3 + 1;
	*hostlen = (size_t)(end - c3 - 1);
	return 0;
}

/* The follower's flight ends with a line (owner lost, Redis lost, ...). */
static void
follower_fail(struct sf_fleet *f, const char *fmt, const char *a,
    const char *b)
{
	struct sf_msg *x = &f->exit;

	if (f->done)
		return;
	f->done = true;
	memset(x, 0, sizeof(*x));
	x->type = SF_MSG_EXIT;
	x->u.exit.how = SF_END_FLEET;
	x->u.exit.size[0] = f->out->size[0];
	x->u.exit.size[1] = f->out->size[1];
	x->u.exit.size[2] = f->out->size[SF_OUT_ORDER];
	snprintf(x->u.exit.name, sizeof(x->u.exit.name), fmt, a, b);
	x->u.exit.namelen = (uint8_t)strlen(x->u.exit.name);
	let_go(f);
}

static void
owner_lost(struct sf_fleet *f)
{
	follower_fail(f, "flight owner on %s lost (its lease on Redis ran "
	    "out, was given up or was taken)%s", f->host, "");
}

/* The leader lost its lease: the runner stops the command. */
static void
leader_lost(struct sf_fleet *f, const char *why)
{
	if (f->lost)
		return;
	f->lost = true;
	snprintf(f->notice, sizeof(f->notice),
	    "lost this flight's lease on Redis (%s): the command was stopped",
	    why);
	let_go(f);
}

static void on_released(void *arg, redisReply *r);

/*
 * Redis is gone, or refuses our writes (maxmemory, a key of the wrong
 * type), or our own spools cannot be read: finish for this host only.
 * While the connection lasts the lease is given back at once (DEL needs no
 * memory), so followers learn it within a poll rather than a lease.
 */
static void
leader_alone(struct sf_fleet *f, const char *why)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[2] = { m->k_lease, m->k_presence };
	const char *args[1] = { m->value };

	snprintf(f->notice, sizeof(f->notice), "Redis at %s: %s",
	    f->conf->url, why);
	if (m->detached)
		return;
	m->detached = true;
	sf_loop_timer_clear(f->loop, &m->tick);
	sf_loop_timer_clear(f->loop, &m->lease_due);
	if (m->rc == NULL || m->releasing ||
	    eval(f, 0, on_released, release_lua, 2, keys, 1, args, NULL) == -1)
		let_go(f);
	else
		m->releasing = true;
}

static void
on_lost(void *arg, int err, const char *why)
{
	struct sf_fleet *f = arg;

	switch (f->role) {
	case SF_FLEET_ELECTING:
		snprintf(f->notice, sizeof(f->notice), "Redis at %.100s: %.80s%s",
		    f->conf->url, why, f->conf->optional ?
		    "; running on this host only (--redis-optional)" : "");
		f->role = f->conf->optional ? SF_FLEET_ALONE : SF_FLEET_FAILED;
		let_go(f);
		break;
	case SF_FLEET_LEADER:
		if (err == ETIMEDOUT)
			leader_lost(f, why);
		else
			leader_alone(f, why);
		break;
	case SF_FLEET_FOLLOWER:
		follower_fail(f, "lost Redis at %s: %s", f->conf->url, why);
		break;
	default:
		let_go(f);
		break;
	}
}

static bool
is_int(const redisReply *r)
{
	return r->type == REDIS_REPLY_INTEGER;
}

/* A Redis error, or an answer of a shape no script of ours gives. */
static const char *
oddity(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer";
}

/* ---- the leader ------------------------------------------------------------------ */

static void lease_ran_out(void *arg);

static void
on_renewed(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	long long n, grace;

	m->renewing = false;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    !is_int(r->element[0]) || !is_int(r->element[1]) ||
	    !is_int(r->element[2])) {
		leader_alone(f, oddity(r));
		return;
	}
	n = r->element[0]->integer;
	grace = r->element[1]->integer;
	if (n < 0) {
		leader_lost(f, "another host holds it now");
		return;
	}
	sf_loop_timer_set(f->loop, &m->lease_due,
	    m->renew_sent + m->lease_ms * 1000LL, lease_ran_out, f);
	f->followers = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	if (r->element[2]->integer == 1)
		f->forgotten = true;
	if (grace >= 0 && !f->cancel) {
		f->cancel = true;
		f->cancel_ms = grace > SF_FLEET_GRACE_MAX_MS ?
		    SF_FLEET_GRACE_MAX_MS : (long)grace;
	}
	if (f->abandoning) {
		f->abandoning = false;
		if (n == 0) {
			/* Marked stopping: we hold "!" v from now on. */
			memmove(m->value + 1, m->value, strlen(m->value) + 1);
			m->value[0] = '!';
			f->abandoned = true;
		}
	}
}

static void
lease_ran_out(void *arg)
{
	leader_lost(arg, "not renewed in time");
}

static void
renew(struct sf_fleet *f, bool abandon)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[4] = { m->k_lease, m->k_out, m->k_presence,
	    m->k_cancel };
	char ms[24];
	const char *args[3] = { m->value, ms, abandon ? "abandon" : "" };

	if (m->rc == NULL || m->renewing || m->detached)
		return;
	snprintf(ms, sizeof(ms), "%ld", m->lease_ms);
	m->renew_sent = sf_clock_us();
	if (eval(f, 0, on_renewed, renew_lua, 4, keys, 3, args, NULL) == 0) {
		m->renewing = true;
		if (abandon)
			f->abandoning = true;
	}
}

static void
on_tick_leader(void *arg)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	renew(f, false);
	sf_loop_timer_set(f->loop, &m->tick,
	    sf_clock_us() + m->lease_ms * 1000LL / 3, on_tick_leader, f);
}

static void
on_appended(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	m->inflight--;
	if (!is_int(r)) {
		leader_alone(f, oddity(r));
		return;
	}
	if (r->integer != 1) {
		leader_lost(f, "another host holds it now");
		return;
	}
	publish(f);
}

static void
on_finished(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	/* Whatever it says, the flight is over in Redis (a lease lost at
	 * this point costs no one anything: the command is over).  The
	 * connection stays for a late --ttl (sf_fleet_keep). */
	(void)r;
	sf_loop_timer_clear(f->loop, &m->tick);
	sf_loop_timer_clear(f->loop, &m->lease_due);
	m->finished = true;
	f->settled = m->keeping == 0;
}

static void
on_kept(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	(void)r;
	if (--m->keeping == 0 && m->finished)
		f->settled = true;
}

void
sf_fleet_keep(struct sf_fleet *f, uint64_t keep_ms)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[2] = { m->k_out, m->k_cache };
	char ms[24], fence[24];
	const char *args[3] = { m->value + (m->value[0] == '!'), ms, fence };

	if (f->role != SF_FLEET_LEADER || m->rc == NULL || m->detached ||
	    keep_ms <= m->keep_ms)
		return;
	m->keep_ms = keep_ms;
	if (!m->finish_sent)
		return;     /* goes with the end */
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)keep_ms);
	snprintf(fence, sizeof(fence), "%" PRIu64, f->fence);
	if (eval(f, 0, on_kept, keep_lua, 2, keys, 3, args, NULL) == 0) {
		m->keeping++;
		f->settled = false;
	}
}

static int
append(struct sf_fleet *f, const char *mode, int nfields, const char **fields,
    const size_t *lens)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[5] = { m->k_lease, m->k_out, m->k_presence, m->k_cache,
	    m->k_meta };
	const char *args[8];
	size_t arglens[8];
	char ms[24];
	int i;

	if (strcmp(mode, "end") == 0)
		snprintf(ms, sizeof(ms), "%llu", (unsigned long long)m->keep_ms);
	else
		snprintf(ms, sizeof(ms), "%ld", m->lease_ms);
	args[0] = m->value; arglens[0] = strlen(m->value);
	args[1] = ms; arglens[1] = strlen(ms);
	args[2] = mode; arglens[2] = strlen(mode);
	for (i = 0; i < nfields; i++) {
		args[3 + i] = fields[i];
		arglens[3 + i] = lens[i];
	}
	return eval(f, 0, strcmp(mode, "end") == 0 ? on_finished : on_appended,
	    append_lua, 5, keys, 3 + nfields, args, arglens);
}

/* A command of send_chunk's transaction was refused (maxmemory, a key of
 * the wrong type): EXEC then fails, and this says why. */
static void
on_queued(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	if (r->type == REDIS_REPLY_ERROR && m->refused[0] == '\0')
		snprintf(m->refused, sizeof(m->refused), "%s", r->str);
}

/* EXEC: the guard's answer, the XADD's, the PEXPIRE's. */
static void
on_chunk(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	m->inflight--;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		leader_alone(f, m->refused[0] != '\0' ? m->refused : oddity(r));
		return;
	}
	if (!is_int(r->element[0])) {       /* the guard failed to run */
		leader_alone(f, oddity(r->element[0]));
		return;
	}
	if (r->element[0]->integer != 1) {
		leader_lost(f, "another host holds it now");
		return;
	}
	if (r->element[1]->type != REDIS_REPLY_STRING) {
		leader_alone(f, oddity(r->element[1]));
		return;
	}
	publish(f);
}

/*
 * Append one chunk of stream s: MULTI, the guard, XADD, PEXPIRE, EXEC, so
 * that the chunk is added only if the lease is ours when Redis runs the
 * transaction (guard_lua).  All five go at once, and nothing of ours can
 * come between them.
 */
static int
send_chunk(struct sf_fleet *f, int s, const void *data, size_t len)
{
	struct sf_fleet_impl *m = f->impl;
	char ms[24], size[24], keep[24];
	const char *field = s == 0 ? "o" : "e";
	const char *keys[3] = { m->k_lease, m->k_out, m->k_meta };
	const char *args[4] = { m->value, ms, field, size };
	const char *av[5];
	size_t lens[5];

	if (sf_redis_pending(m->rc) + 5 > SF_REDIS_QUEUE)
		return -1;
	snprintf(ms, sizeof(ms), "%ld", m->lease_ms);
	snprintf(size, sizeof(size), "%zu", len);
	snprintf(keep, sizeof(keep), "%ld", m->lease_ms + SF_FLEET_KEEP_MS);
	av[0] = "MULTI"; lens[0] = 5;
	if (sf_redis_command(m->rc, 0, on_queued, f, 1, av, lens) == -1 ||
	    eval(f, 0, on_queued, guard_lua, 3, keys, 4, args, NULL) == -1)
		return -1;
	av[0] = "XADD"; lens[0] = 4;
	av[1] = m->k_out; lens[1] = strlen(m->k_out);
	av[2] = "*"; lens[2] = 1;
	av[3] = field; lens[3] = 1;
	av[4] = data; lens[4] = len;
	if (sf_redis_command(m->rc, 0, on_queued, f, 5, av, lens) == -1)
		return -1;
	av[0] = "PEXPIRE"; lens[0] = 7;
	av[2] = keep; lens[2] = strlen(keep);
	if (sf_redis_command(m->rc, 0, on_queued, f, 3, av, lens) == -1)
		return -1;
	av[0] = "EXEC"; lens[0] = 4;
	return sf_redis_command(m->rc, 0, on_chunk, f, 1, av, lens);
}

/* The end of the flight as its last entry (fleet.h). */
static void
send_end(struct sf_fleet *f)
{
	struct sf_fleet_impl *m = f->impl;
	const struct sf_msg *x = &m->fin;
	const char *fields[4];
	size_t lens[4];
	char line[128];
	int n = 0;

	m->finish_sent = true;
	if (m->big) {
		/* The stream ended at the limit; only the lease is left. */
		const char *keys[2] = { m->k_lease, m->k_presence };
		const char *args[1] = { m->value };
		if (eval(f, 0, on_finished, release_lua, 2, keys, 1, args, NULL) == -1)
			let_go(f);
		return;
	}
	snprintf(line, sizeof(line), "%u %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64,
	    x->u.exit.how, (uint32_t)x->u.exit.code, (uint32_t)x->u.exit.err,
	    x->u.exit.size[0], x->u.exit.size[1]);
	fields[n] = "x"; lens[n++] = 1;
	fields[n] = line; lens[n++] = strlen(line);
	if (x->u.exit.namelen > 0) {
		fields[n] = "n"; lens[n++] = 1;
		fields[n] = x->u.exit.name; lens[n++] = x->u.exit.namelen;
	}
	if (append(f, "end", n, fields, lens) == -1)
		let_go(f);
}

/* Send the output clients may read, in the order the runner read it, as
 * far as INFLIGHT chunks allow; then the end, once finishing. */
static void
publish(struct sf_fleet *f)
{
	struct sf_fleet_impl *m = f->impl;
	struct sf_output *o = f->out;
	uint64_t avail[2], upto, n;
	const char *fields[2];
	size_t lens[2];
	char limit[24];
	ssize_t got;
	int s, rc;

	if (m->rc == NULL || m->detached || f->role != SF_FLEET_LEADER)
		return;
	while (!m->big && m->inflight < INFLIGHT) {
		avail[0] = o->told[0];
		avail[1] = o->told[1];
		m->order.fd = o->reader[SF_OUT_ORDER];
		m->order.end = o->told[SF_OUT_ORDER];
		rc = sf_order_next(&m->order, m->pos, avail, &s, &upto);
		if (rc == -1) {
			leader_alone(f, "cannot read this host's order index");
			return;
		}
		if (rc == 0)
			break;
		n = upto - m->pos[s];
		if (n > SF_FLEET_CHUNK)
			n = SF_FLEET_CHUNK;
		if ((long long)(m->published + n) > f->conf->max_bytes) {
			n = (uint64_t)f->conf->max_bytes - m->published;
			if (n == 0) {
				/* Followers end here; this host goes on. */
				m->big = true;
				snprintf(limit, sizeof(limit), "%lld",
				    f->conf->max_bytes);
				fields[0] = "big"; lens[0] = 3;
				fields[1] = limit; lens[1] = strlen(limit);
				if (append(f, "", 2, fields, lens) == -1)
					leader_alone(f, "cannot send");
				else
					m->inflight++;
				break;
			}
		}
		do
			got = pread(o->reader[s], m->buf, (size_t)n, (off_t)m->pos[s]);
		while (got == -1 && errno == EINTR);
		if (got <= 0) {
			leader_alone(f, "cannot read this host's spool");
			return;
		}
		if (send_chunk(f, s, m->buf, (size_t)got) == -1) {
			leader_alone(f, "cannot send");
			return;
		}
		m->inflight++;
		m->pos[s] += (uint64_t)got;
		m->published += (uint64_t)got;
	}
	if (m->finishing && !m->finish_sent && (m->big ||
	    (m->pos[0] == o->size[0] && m->pos[1] == o->size[1])))
		send_end(f);
}

void
sf_fleet_grew(struct sf_fleet *f)
{
	publish(f);
}

void
sf_fleet_finish(struct sf_fleet *f, const struct sf_msg *exit, uint64_t keep_ms)
{
	struct sf_fleet_impl *m = f->impl;

	if (m->rc == NULL || f->role != SF_FLEET_LEADER || m->finishing ||
	    m->detached) {
		if (m->rc == NULL)
			f->settled = true;
		return;
	}
	m->finishing = true;
	m->fin = *exit;
	if (keep_ms > m->keep_ms)
		m->keep_ms = keep_ms;
	publish(f);
}

void
sf_fleet_abandon(struct sf_fleet *f)
{
	if (f->role == SF_FLEET_LEADER && !f->abandoning && !f->abandoned)
		renew(f, true);
}

static void
on_released(void *arg, redisReply *r)
{
	(void)r;
	let_go(arg);
}

void
sf_fleet_release(struct sf_fleet *f)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[2] = { m->k_lease, m->k_presence };
	const char *args[1] = { m->value };
	const char *av[3] = { "ZREM", m->k_presence, m->member };
	size_t lens[3];
	int rc;

	if (m->rc == NULL || m->releasing) {
		if (m->rc == NULL)
			f->settled = true;
		return;
	}
	m->releasing = true;
	if (f->role == SF_FLEET_LEADER)
		rc = eval(f, 0, on_released, release_lua, 2, keys, 1, args, NULL);
	else {
		m->left = true;
		lens[0] = 4;
		lens[1] = strlen(av[1]);
		lens[2] = strlen(av[2]);
		rc = sf_redis_command(m->rc, 0, on_released, f, 3, av, lens);
	}
	if (rc == -1)
		let_go(f);
}

/* ---- the follower ---------------------------------------------------------------- */

/* "HOW CODE ERR OUTSIZE ERRSIZE", as send_end writes it: five decimal
 * numbers, one space apart, nothing else. */
static int
parse_end(struct sf_fleet *f, const redisReply *line, const redisReply *name)
{
	static const uint64_t max[5] = { SF_END_FAILED, INT32_MAX, 4095,
	    UINT64_MAX, UINT64_MAX };
	struct sf_msg *x = &f->exit;
	const char *p = line->str, *end = line->str + line->len, *sp;
	uint64_t v[5];
	int i;

	for (i = 0; i < 5; i++) {
		sp = memchr(p, ' ', (size_t)(end - p));
		if ((i < 4) != (sp != NULL) ||
		    sf_redis_decimal(p, (size_t)((sp != NULL ? sp : end) - p),
		    max[i], &v[i]) == -1)
			return -1;
		if (sp != NULL)
			p = sp + 1;
	}
	if (v[0] < SF_END_EXITED || v[3] != f->impl->got[0] ||
	    v[4] != f->impl->got[1])
		return -1;
	if (name != NULL && (name->type != REDIS_REPLY_STRING ||
	    name->len > SF_PROTO_MAX_NAME))
		return -1;
	memset(x, 0, sizeof(*x));
	x->type = SF_MSG_EXIT;
	x->u.exit.how = (uint8_t)v[0];
	x->u.exit.code = (int32_t)v[1];
	x->u.exit.err = (int32_t)v[2];
	x->u.exit.size[0] = f->out->size[0];
	x->u.exit.size[1] = f->out->size[1];
	x->u.exit.size[2] = f->out->size[SF_OUT_ORDER];
	if (name != NULL) {
		memcpy(x->u.exit.name, name->str, name->len);
		x->u.exit.namelen = (uint8_t)name->len;
	}
	return 0;
}

/* One stream entry: 0 taken, 1 the end, -1 malformed, -2 cannot spool. */
static int
take_entry(struct sf_fleet *f, const redisReply *e)
{
	struct sf_fleet_impl *m = f->impl;
	const redisReply *id, *fv, *k, *v;
	int s;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
		return -1;
	id = e->element[0];
	fv = e->element[1];
	if (id->type != REDIS_REPLY_STRING || id->len >= sizeof(m->last_id) ||
	    fv->type != REDIS_REPLY_ARRAY || (fv->elements != 2 &&
	    fv->elements != 4))
		return -1;
	memcpy(m->last_id, id->str, id->len);
	m->last_id[id->len] = '\0';
	k = fv->element[0];
	v = fv->element[1];
	if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
	    k->len < 1)
		return -1;
	if (k->len == 1 && (k->str[0] == 'o' || k->str[0] == 'e') &&
	    fv->elements == 2) {
		if (v->len < 1 || v->len > SF_FLEET_CHUNK)
			return -1;
		s = k->str[0] == 'o' ? 0 : 1;
		if (sf_output_append(f->out, s, v->str, v->len) == -1)
			return -2;
		m->got[s] += v->len;
		return 0;
	}
	if (k->len == 1 && k->str[0] == 'x') {
		if (fv->elements == 4 && (fv->element[2]->type !=
		    REDIS_REPLY_STRING || fv->element[2]->len != 1 ||
		    fv->element[2]->str[0] != 'n'))
			return -1;
		if (parse_end(f, v, fv->elements == 4 ? fv->element[3] : NULL) == -1)
			return -1;
		f->done = true;
		let_go(f);
		return 1;
	}
	if (k->len == 4 && memcmp(k->str, "lost", 4) == 0 && fv->elements == 2) {
		owner_lost(f);      /* closed by guard_lua */
		return 1;
	}
	if (k->len == 3 && memcmp(k->str, "big", 3) == 0 && fv->elements == 2) {
		char limit[24];
		uint64_t lim;
		if (sf_redis_decimal(v->str, v->len, UINT64_MAX, &lim) == -1)
			return -1;
		snprintf(limit, sizeof(limit), "%" PRIu64, lim);
		follower_fail(f, "the output is larger than the leader's "
		    "--redis-max-bytes (%s bytes) on %s", limit, f->host);
		return 1;
	}
	return -1;
}

static void
on_read(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;
	const redisReply *st, *entries;
	size_t i;
	bool any = false, grew = false;
	int rc;

	m->reading = false;
	if (r->type == REDIS_REPLY_ERROR) {
		follower_fail(f, "Redis at %s: %s", f->conf->url, r->str);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY) {
		if (r->elements != 1 || (st = r->element[0])->type !=
		    REDIS_REPLY_ARRAY || st->elements != 2 ||
		    st->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(st->element[0]->str, m->k_out) != 0 ||
		    (entries = st->element[1])->type != REDIS_REPLY_ARRAY)
			goto malformed;
		for (i = 0; i < entries->elements && !f->done; i++) {
			rc = take_entry(f, entries->element[i]);
			if (rc == -1)
				goto malformed;
			if (rc == -2) {
				follower_fail(f, "cannot spool the output here: %s%s",
				    strerror(errno), "");
				return;
			}
			if (rc == 0)
				grew = any = true;
		}
		if (grew && f->grew != NULL)
			f->grew(f->arg);
		if (f->done) {
			if (f->grew != NULL)
				f->grew(f->arg);
			return;
		}
	} else if (r->type != REDIS_REPLY_NIL)
		goto malformed;
	if (m->draining && !any) {
		/* The lease went and the stream has no end: the leader is. */
		if (m->replaying)
			follower_fail(f, "the result stored in %s on Redis at %s "
			    "expired while it was read", m->k_out, f->conf->url);
		else
			owner_lost(f);
		return;
	}
	read_more(f, !m->draining);
	return;
malformed:
	follower_fail(f, "malformed entry in %s on Redis at %s", m->k_out,
	    f->conf->url);
}

static void
on_touched(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;

	m->touching = false;
	if (!is_int(r)) {
		follower_fail(f, "Redis at %s: %s", f->conf->url, oddity(r));
		return;
	}
	/* 2: forgotten (--forget --redis): followed on, stored nowhere.
	 * Not ours any more: read what is left; no end there means the
	 * leader is gone (the end is written before the lease goes). */
	if (r->integer == 2)
		f->forgotten = true;
	else if (r->integer != 1)
		m->draining = true;
}

static void
read_more(struct sf_fleet *f, bool block)
{
	struct sf_fleet_impl *m = f->impl;
	const char *keys[2] = { m->k_lease, m->k_presence };
	char ms[24], bl[24];
	const char *args[3] = { m->value, ms, m->member };
	const char *av[9];
	size_t lens[9];
	long long now = sf_clock_us();
	int n = 0, i;

	if (m->rc == NULL || f->done || m->left || m->reading)
		return;
	if (!m->draining && !m->touching &&
	    now - m->touched >= m->poll_ms * 1000LL) {
		snprintf(ms, sizeof(ms), "%ld", m->lease_ms);
		m->touched = now;
		if (eval(f, 0, on_touched, touch_lua, 2, keys, 3, args, NULL) == 0)
			m->touching = true;
	}
	snprintf(bl, sizeof(bl), "%ld", m->poll_ms);
	av[n++] = "XREAD";
	av[n++] = "COUNT";
	av[n++] = READ_COUNT;
	if (block) {
		av[n++] = "BLOCK";
		av[n++] = bl;
	}
	av[n++] = "STREAMS";
	av[n++] = m->k_out;
	av[n++] = m->last_id;
	for (i = 0; i < n; i++)
		lens[i] = strlen(av[i]);
	if (sf_redis_command(m->rc, block ? m->poll_ms : 0, on_read, f, n, av,
	    lens) == 0)
		m->reading = true;
}

/* ---- the election ------------------------------------------------------------------ */

static void elect(void *arg);

static void
on_described(void *arg, redisReply *r)
{
	(void)arg;
	(void)r;    /* --list does without it */
}

/* What --list shows of a flight (PREFIX{NAME}:F:meta): when it started,
 * the command's arguments; publishing adds the sizes.  It lives as long
 * as the stream. */
static void
describe(struct sf_fleet *f)
{
	struct sf_fleet_impl *m = f->impl;
	char started[24], ms[24];
	const char *av[9] = { "HSET", m->k_meta, "started", started, "argv",
	    (const char *)f->argv, "cut", f->argv_cut ? "1" : "0" };
	size_t lens[9];
	int i;

	snprintf(started, sizeof(started), "%lld", (long long)(f->started_ns /
	    1000000));
	for (i = 0; i < 8; i++)
		lens[i] = strlen(av[i]);
	lens[5] = f->argvlen;
	(void)sf_redis_command(m->rc, 0, on_described, f, 8, av, lens);
	snprintf(ms, sizeof(ms), "%ld", m->lease_ms + SF_FLEET_KEEP_MS);
	av[0] = "PEXPIRE";
	av[2] = ms;
	for (i = 0; i < 3; i++)
		lens[i] = strlen(av[i]);
	(void)sf_redis_command(m->rc, 0, on_described, f, 3, av, lens);
}

/* The first answers say whether Redis is there at all: they are due
 * sooner than the lease. */
static long
first_ms(const struct sf_fleet_impl *m)
{
	return m->lease_ms < CONNECT_MS ? m->lease_ms : CONNECT_MS;
}

/* "FENCE:TOKEN:PID:HOST" */
static int
parse_lease(struct sf_fleet *f, const char *v, size_t len)
{
	struct sf_fleet_impl *m = f->impl;
	const char *host;
	uint64_t fence, pid;
	size_t hostlen;

	if (len >= VALUE_MAX || memchr(v, '\0', len) != NULL ||
	    split_lease(v, len, &fence, &pid, &host, &hostlen) == -1)
		return -1;
	memcpy(m->value, v, len);
	m->value[len] = '\0';
	f->fence = fence;
	f->leader_pid = (long)pid;
	memcpy(f->host, host, hostlen);
	f->host[hostlen] = '\0';
	snprintf(m->k_out, sizeof(m->k_out), "%s%" PRIu64 ":out", m->base, fence);
	snprintf(m->k_presence, sizeof(m->k_presence), "%s%" PRIu64 ":presence",
	    m->base, fence);
	snprintf(m->k_cancel, sizeof(m->k_cancel), "%s%" PRIu64 ":cancel",
	    m->base, fence);
	snprintf(m->k_meta, sizeof(m->k_meta), "%s%" PRIu64 ":meta", m->base,
	    fence);
	return 0;
}

static void
elect_failed(struct sf_fleet *f, const char *why, const char *what)
{
	snprintf(f->notice, sizeof(f->notice), "Redis at %s: %s%s",
	    f->conf->url, why, what);
	f->role = SF_FLEET_FAILED;
	let_go(f);
}

static void
on_elected(void *arg, redisReply *r)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;
	const redisReply *code, *v;
	bool stopping;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    (code = r->element[0])->type != REDIS_REPLY_INTEGER ||
	    (v = r->element[1])->type != REDIS_REPLY_STRING) {
		elect_failed(f, oddity(r), "");
		return;
	}
	if (code->integer == 2) {
		/* The last flight is stopping its command: like a newcomer
		 * on one host, wait for it rather than start a second copy. */
		sf_loop_timer_set(f->loop, &m->tick,
		    sf_clock_us() + ELECT_RETRY_MS * 1000LL, elect, f);
		return;
	}
	if (code->integer == 5) {
		/* -n: another host's flight; as on one host, do not join. */
		stopping = v->len > 0 && v->str[0] == '!';
		if (parse_lease(f, v->str + stopping, v->len - stopping) == -1) {
			elect_failed(f, "malformed lease in ", m->k_lease);
			return;
		}
		snprintf(f->notice, sizeof(f->notice), "a flight for this key is "
		    "%s on %.150s (its runner, pid %ld there)", stopping ?
		    "running or shutting down" : "already running", f->host,
		    f->leader_pid);
		f->role = SF_FLEET_FAILED;
		f->busy = true;
		let_go(f);
		return;
	}
	if (code->integer < 0 || code->integer > 4 || code->integer == 3 ||
	    parse_lease(f, v->str, v->len) == -1) {
		elect_failed(f, "malformed lease in ", m->k_lease);
		return;
	}
	if (code->integer == 1) {
		f->role = SF_FLEET_LEADER;
		describe(f);
		snprintf(f->host, sizeof(f->host), "%s", "this host");
		sf_loop_timer_set(f->loop, &m->lease_due,
		    m->renew_sent + m->lease_ms * 1000LL, lease_ran_out, f);
		sf_loop_timer_set(f->loop, &m->tick,
		    sf_clock_us() + m->lease_ms * 1000LL / 3, on_tick_leader, f);
		return;
	}
	f->role = SF_FLEET_FOLLOWER;
	snprintf(f->notice, sizeof(f->notice), code->integer == 4 ?
	    "replaying the result that %.200s stored in Redis (its runner, pid %ld there)" :
	    "following the flight of %.200s through Redis (its runner, pid %ld there, runs the command)",
	    f->host, f->leader_pid);
	if (code->integer == 4) {
		/* A finished flight's stream: read it to its end at once. */
		m->replaying = m->draining = true;
		read_more(f, false);
		return;
	}
	m->touched = sf_clock_us();
	read_more(f, true);
}

static void
elect(void *arg)
{
	struct sf_fleet *f = arg;
	struct sf_fleet_impl *m = f->impl;
	const char *keys[3] = { m->k_lease, m->k_fence, m->k_cache };
	char ms[24], ttl[24];
	const char *args[4] = { m->suffix, ms, m->member, ttl };

	snprintf(ms, sizeof(ms), "%ld", m->lease_ms);
	snprintf(ttl, sizeof(ttl), "%lld%s", f->conf->ttl_ms > 0 ?
	    f->conf->ttl_ms : 0, f->conf->no_wait ? "n" : "");
	m->renew_sent = sf_clock_us();
	if (m->rc != NULL && eval(f, first_ms(m) - m->lease_ms, on_elected,
	    elect_lua, 3, keys, 4, args, NULL) == -1)
		elect_failed(f, "cannot send", "");
}

/* ---- set-up -------------------------------------------------------------------------- */

int
sf_fleet_check(const struct sf_fleet_conf *conf, char *cause, size_t causelen)
{
	struct sf_redis_url u;
	char why[200];

	if (sf_redis_url_parse(conf->url, &u, why, sizeof(why)) == -1) {
		snprintf(cause, causelen, "--redis %s: %s", conf->url, why);
		return -1;
	}
	if (u.user[0] != '\0' && conf->password == NULL) {
		snprintf(cause, causelen, "--redis %s: user %s needs a password in "
		    "SFEXEC_REDIS_PASSWORD", conf->url, u.user);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- --forget and --cancel across the fleet ---------------------------------------- */

struct steer {
	sf_loop *loop;
	int answer;                 /* -1 until answered or lost */
	char *cause;
	size_t causelen;
	const char *url;
};

static void
on_steered(void *arg, redisReply *r)
{
	struct steer *st = arg;

	if (is_int(r))
		st->answer = r->integer > 0;
	else
		snprintf(st->cause, st->causelen, "Redis at %s: %s", st->url,
		    oddity(r));
	sf_loop_stop(st->loop);
}

static void
on_steer_lost(void *arg, int err, const char *why)
{
	struct steer *st = arg;

	(void)err;
	snprintf(st->cause, st->causelen, "Redis at %s: %s", st->url, why);
	sf_loop_stop(st->loop);
}

/*
 * A connection of the CLI's own (--list, --forget, --cancel) on a loop of
 * its own, for one exchange: st's cause, answer, url and loop are set,
 * *rc connected.  0, or -1 with the cause and nothing left open.
 */
static int
open_private(const struct sf_fleet_conf *conf, struct steer *st,
    sf_redis **rc, char *cause, size_t causelen)
{
	struct sf_redis_url u;
	char why[200];

	*st = (struct steer){ .answer = -1, .cause = cause, .causelen = causelen,
	    .url = conf->url };
	*rc = NULL;
	cause[0] = '\0';
	if (sf_redis_url_parse(conf->url, &u, cause, causelen) == -1)
		return -1;
	if ((st->loop = sf_loop_new()) == NULL) {
		snprintf(cause, causelen, "%s", strerror(errno));
		return -1;
	}
	if ((*rc = sf_redis_connect(st->loop, &u, conf->password, CONNECT_MS,
	    CONNECT_MS, on_steer_lost, st, why, sizeof(why))) == NULL) {
		snprintf(cause, causelen, "Redis at %s: %s", conf->url, why);
		sf_loop_free(st->loop);
		st->loop = NULL;
		return -1;
	}
	return 0;
}

int
sf_fleet_steer(const struct sf_fleet_conf *conf, const char *name,
    int what, long grace_ms, char *cause, size_t causelen)
{
	struct steer st;
	sf_redis *rc;
	char key[KEY_MAX], g[KEY_MAX], px[24];
	const char *av[7];
	size_t lens[7];
	int n = 0, i, e;

	if (open_private(conf, &st, &rc, cause, causelen) == -1)
		return -1;
	av[n++] = "EVAL";
	if (what == SF_MSG_CANCEL) {
		/* The leader's next renewal hears it: within a third of its
		 * lease, which this host does not know (up to a day).  The
		 * request names one flight (F:cancel), so standing longer than
		 * the flight harms nothing. */
		snprintf(key, sizeof(key), "%s{%s}:lease", conf->prefix, name);
		snprintf(g, sizeof(g), "%ld", grace_ms);
		snprintf(px, sizeof(px), "%ld", 24L * 3600 * 1000);
		av[n++] = cancel_lua;
		av[n++] = "1";
		av[n++] = key;
		av[n++] = g;
		av[n++] = px;
	} else {
		snprintf(key, sizeof(key), "%s{%s}:lease", conf->prefix, name);
		snprintf(g, sizeof(g), "%s{%s}:cache", conf->prefix, name);
		av[n++] = forget_lua;
		av[n++] = "2";
		av[n++] = key;
		av[n++] = g;
	}
	for (i = 0; i < n; i++)
		lens[i] = strlen(av[i]);
	if (sf_redis_command(rc, 0, on_steered, &st, n, av, lens) == 0)
		sf_loop_run(st.loop, NULL, NULL);
	else
		snprintf(cause, causelen, "Redis at %s: cannot send", conf->url);
	e = errno;
	sf_redis_free(rc);
	sf_loop_free(st.loop);
	if (st.answer == -1 && cause[0] == '\0')
		snprintf(cause, causelen, "Redis at %s: no answer", conf->url);
	errno = e;
	return st.answer;
}

/* ---- --list across the fleet ------------------------------------------------------- */

#define LIST_NAMES   4096       /* keys listed at most */
#define LIST_SCANS   1000       /* SCAN calls at most */

struct lister {
	struct steer st;            /* the loop, the cause */
	sf_redis *rc;
	const struct sf_fleet_conf *conf;
	char pattern[KEY_MAX * 2];
	char (*names)[SF_KEY_NAME_LEN + 1];
	size_t nnames, answered;
	int scans;
	struct sf_control_row **rows;
	size_t *n;
	int64_t now_ns;
};

static void list_scan(struct lister *l, const char *cursor, size_t len);

static bool
hex_name(const char *s, size_t n)
{
	size_t i;

	if (n != SF_KEY_NAME_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The NAME of PREFIX{NAME}:lease or PREFIX{NAME}:cache, once. */
static void
list_take_key(struct lister *l, const redisReply *k)
{
	size_t p = strlen(l->conf->prefix), i;
	const char *s = k->str;

	if (k->type != REDIS_REPLY_STRING || k->len < p + 2 + SF_KEY_NAME_LEN ||
	    memcmp(s, l->conf->prefix, p) != 0 || s[p] != '{' ||
	    !hex_name(s + p + 1, SF_KEY_NAME_LEN) ||
	    strncmp(s + p + 1 + SF_KEY_NAME_LEN, "}:", 2) != 0)
		return;
	s += p + 3 + SF_KEY_NAME_LEN;
	if (strcmp(s, "lease") != 0 && strcmp(s, "cache") != 0)
		return;
	for (i = 0; i < l->nnames; i++)
		if (memcmp(l->names[i], k->str + p + 1, SF_KEY_NAME_LEN) == 0)
			return;
	if (l->nnames < LIST_NAMES) {
		memcpy(l->names[l->nnames], k->str + p + 1, SF_KEY_NAME_LEN);
		l->names[l->nnames++][SF_KEY_NAME_LEN] = '\0';
	}
}

/* A decimal number in a reply's string, or -1. */
static long long
str_num(const redisReply *r, uint64_t max)
{
	uint64_t v;

	if (r->type != REDIS_REPLY_STRING ||
	    sf_redis_decimal(r->str, r->len, max, &v) == -1)
		return -1;
	return (long long)v;
}

static int
add_row(struct lister *l, struct sf_control_row *row)
{
	struct sf_control_row *v;

	if ((v = realloc(*l->rows, (*l->n + 1) * sizeof(*v))) == NULL)
		return -1;
	*l->rows = v;
	v[(*l->n)++] = *row;
	return 0;
}

/* The meta (five strings at m) into row: started, argv, sizes. */
static void
row_meta(struct sf_control_row *row, redisReply **m)
{
	long long started = str_num(m[0], INT64_MAX / 1000000), o, e;

	if (started > 0)
		row->started_ns = started * 1000000;
	if (m[1]->type == REDIS_REPLY_STRING && m[1]->len > 0 &&
	    m[1]->len <= SF_PROTO_MAX_ARGV && m[1]->str[m[1]->len - 1] == '\0' &&
	    (row->argv = malloc(m[1]->len)) != NULL) {
		memcpy(row->argv, m[1]->str, m[1]->len);
		row->argvlen = m[1]->len;
		row->argv_cut = m[2]->type == REDIS_REPLY_STRING &&
		    m[2]->len == 1 && m[2]->str[0] == '1';
	}
	o = str_num(m[3], INT64_MAX);
	e = str_num(m[4], INT64_MAX);
	row->sizes_known = true;
	row->size[0] = o > 0 ? (uint64_t)o : 0;
	row->size[1] = e > 0 ? (uint64_t)e : 0;
}

/* "FENCE:TOKEN:PID:HOST" (after a "!" or "ENDED "): pid and host. */
static char *
lease_host(const char *v, size_t len, pid_t *pid)
{
	const char *host;
	uint64_t p;
	size_t hostlen;
	char *h;

	if (split_lease(v, len, NULL, &p, &host, &hostlen) == -1 ||
	    (h = strndup(host, hostlen)) == NULL)
		return NULL;
	*pid = (pid_t)p;
	return h;
}

static void
on_inspected(void *arg, redisReply *r)
{
	struct lister *l = arg;
	const char *name = l->names[l->answered++];
	struct sf_control_row row;
	redisReply **e;
	const char *v, *sp;
	long long pttl;
	uint64_t how, code;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 15)
		goto done;
	e = r->element;
	for (i = 0; i < 15; i++)
		if (e[i]->type != REDIS_REPLY_STRING)
			goto done;
	if (e[0]->len > 0) {
		memset(&row, 0, sizeof(row));
		v = e[0]->str;
		row.state = v[0] == '!' ? SF_STATE_STOPPING : SF_STATE_RUNNING;
		snprintf(row.id, sizeof(row.id), "%s", name);
		row.invocations = -1;
		row.exit_status = -1;
		if ((row.host = lease_host(v + (v[0] == '!'), e[0]->len -
		    (v[0] == '!'), &row.runner_pid)) == NULL)
			row.host = strdup("?");
		row_meta(&row, &e[1]);
		if (row.host == NULL || add_row(l, &row) == -1) {
			free(row.host);
			free(row.argv);
		}
	}
	if (e[7]->len > 0 && (sp = memchr(e[7]->str, ' ', e[7]->len)) != NULL) {
		memset(&row, 0, sizeof(row));
		row.state = SF_ROW_CACHED;
		snprintf(row.id, sizeof(row.id), "%s", name);
		row.invocations = -1;
		row.exit_status = -1;
		v = sp + 1;
		if ((row.host = lease_host(v, e[7]->len - (size_t)(v - e[7]->str),
		    &row.runner_pid)) == NULL)
			row.host = strdup("?");
		row.runner_pid = 0;     /* long gone */
		if (sf_redis_decimal(e[7]->str, (size_t)(sp - e[7]->str),
		    INT64_MAX / 1000000, &how) == 0)
			row.ended_ns = (int64_t)how * 1000000;
		if ((pttl = str_num(e[8], INT64_MAX / 1000000)) > 0)
			row.keep_until_ns = l->now_ns + pttl * 1000000;
		row_meta(&row, &e[9]);
		row.sizes_known = false;
		/* "HOW CODE ERR OUTSIZE ERRSIZE" (send_end) */
		v = e[14]->str;
		if (e[14]->len > 0 && (sp = memchr(v, ' ', e[14]->len)) != NULL &&
		    sf_redis_decimal(v, (size_t)(sp - v), SF_END_FLEET, &how) == 0 &&
		    sscanf(sp + 1, "%" SCNu64, &code) == 1 && code < 256) {
			if (how == SF_END_EXITED)
				row.exit_status = (int)code;
			else if (how == SF_END_SIGNALED)
				row.exit_status = 128 + (int)code;
			if (sscanf(sp + 1, "%*u %*u %" SCNu64 " %" SCNu64,
			    &row.size[0], &row.size[1]) == 2)
				row.sizes_known = true;
		}
		if (row.host == NULL || add_row(l, &row) == -1) {
			free(row.host);
			free(row.argv);
		}
	}
done:
	if (l->answered == l->nnames)
		sf_loop_stop(l->st.loop);
}

static void
list_inspect(struct lister *l)
{
	char base[KEY_MAX];
	const char *av[4] = { "EVAL", inspect_lua, "0", base };
	size_t lens[4], i;

	if (l->nnames == 0) {
		sf_loop_stop(l->st.loop);
		return;
	}
	for (i = 0; i < l->nnames; i++) {
		snprintf(base, sizeof(base), "%s{%s}:", l->conf->prefix, l->names[i]);
		lens[0] = 4;
		lens[1] = strlen(inspect_lua);
		lens[2] = 1;
		lens[3] = strlen(base);
		if (sf_redis_command(l->rc, 0, on_inspected, l, 4, av, lens) == -1) {
			snprintf(l->st.cause, l->st.causelen, "Redis at %s: cannot send",
			    l->conf->url);
			sf_loop_stop(l->st.loop);
			return;
		}
	}
}

static void
on_scanned(void *arg, redisReply *r)
{
	struct lister *l = arg;
	const redisReply *cur, *keys;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    (cur = r->element[0])->type != REDIS_REPLY_STRING ||
	    (keys = r->element[1])->type != REDIS_REPLY_ARRAY) {
		snprintf(l->st.cause, l->st.causelen, "Redis at %s: %s",
		    l->conf->url, oddity(r));
		sf_loop_stop(l->st.loop);
		return;
	}
	for (i = 0; i < keys->elements; i++)
		list_take_key(l, keys->element[i]);
	if ((cur->len == 1 && cur->str[0] == '0') || ++l->scans >= LIST_SCANS)
		list_inspect(l);
	else
		list_scan(l, cur->str, cur->len);
}

static void
list_scan(struct lister *l, const char *cursor, size_t len)
{
	const char *av[6] = { "SCAN", cursor, "MATCH", l->pattern, "COUNT",
	    "1000" };
	size_t lens[6] = { 4, len, 5, strlen(l->pattern), 5, 4 };

	if (sf_redis_command(l->rc, 0, on_scanned, l, 6, av, lens) == -1) {
		snprintf(l->st.cause, l->st.causelen, "Redis at %s: cannot send",
		    l->conf->url);
		sf_loop_stop(l->st.loop);
	}
}

int
sf_fleet_list(const struct sf_fleet_conf *conf, int64_t now_ns,
    struct sf_control_row **rows, size_t *n, char *cause, size_t causelen)
{
	struct lister l;
	const char *p;
	size_t k = 0;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	l.conf = conf;
	l.rows = rows;
	l.n = n;
	l.now_ns = now_ns;
	/* The prefix is matched as it is: glob's characters escaped. */
	for (p = conf->prefix; *p != '\0' && k + 8 < sizeof(l.pattern); p++) {
		if (strchr("*?[]\\", *p) != NULL)
			l.pattern[k++] = '\\';
		l.pattern[k++] = *p;
	}
	snprintf(l.pattern + k, sizeof(l.pattern) - k, "{*}:*");
	if ((l.names = calloc(LIST_NAMES, sizeof(*l.names))) == NULL) {
		snprintf(cause, causelen, "%s", strerror(errno));
		return -1;
	}
	if (open_private(conf, &l.st, &l.rc, cause, causelen) == -1)
		goto out;
	list_scan(&l, "0", 1);
	sf_loop_run(l.st.loop, NULL, NULL);
	if (cause[0] == '\0' && l.answered == l.nnames)
		rc = 0;
	else if (cause[0] == '\0')
		snprintf(cause, causelen, "Redis at %s: no answer", conf->url);
out:
	sf_redis_free(l.rc);
	if (l.st.loop != NULL)
		sf_loop_free(l.st.loop);
	free(l.names);
	return rc;
}

int
sf_fleet_start(struct sf_fleet *f)
{
	struct sf_fleet_impl *m;
	char host[256], token[33], why[200];
	uint8_t rnd[16];
	int i;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -1;
	f->impl = m;
	f->role = SF_FLEET_ELECTING;
	sf_order_init(&m->order);
	m->lease_ms = f->conf->lease_ms;
	m->poll_ms = m->lease_ms / 3 < POLL_MS ? m->lease_ms / 3 : POLL_MS;
	snprintf(m->last_id, sizeof(m->last_id), "0-0");
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	snprintf(m->base, sizeof(m->base), "%s{%s}:", f->conf->prefix, f->name);
	snprintf(m->k_lease, sizeof(m->k_lease), "%slease", m->base);
	snprintf(m->k_fence, sizeof(m->k_fence), "%sfence", m->base);
	snprintf(m->k_cache, sizeof(m->k_cache), "%scache", m->base);
	snprintf(m->suffix, sizeof(m->suffix), ":%s:%ld:%s", token,
	    (long)getpid(), host);
	/* Two hosts may share a name and a pid (containers): the token
	 * tells their runners apart. */
	snprintf(m->member, sizeof(m->member), "%s:%ld:%s", host,
	    (long)getpid(), token);
	if (sf_redis_url_parse(f->conf->url, &m->url, why, sizeof(why)) == -1 ||
	    (m->rc = sf_redis_connect(f->loop, &m->url, f->conf->password,
	    m->lease_ms, first_ms(m), on_lost, f, why, sizeof(why))) == NULL) {
		/* Decided at once (the caller looks at role). */
		on_lost(f, ECONNREFUSED, why);
		return 0;
	}
	elect(f);
	return 0;
}

void
sf_fleet_free(struct sf_fleet *f)
{
	if (f->impl == NULL)
		return;
	let_go(f);
	free(f->impl);
	f->impl = NULL;
}
