/*
 * fleet.h — a flight across hosts (sfexec --redis): one runner per host,
 * one of them the leader that runs the command, the others followers that
 * replay its output, coordinated on Redis.
 *
 * Only runners talk to Redis; on each host, invocations coalesce into the
 * host's runner as always.  The runner asks sf_fleet_start which part it
 * plays, then:
 *
 *   leader    runs the command as usual; the fleet publishes its output
 *             (sf_fleet_grew, from the spools, in the order the runner read
 *             the two streams) and its end (sf_fleet_finish), and renews the
 *             lease every third of it.  Lost lease: lost is set, and the
 *             runner stops the command.
 *   follower  runs nothing: the fleet appends the leader's output to the
 *             runner's spools as it comes and says grew; then ended, with
 *             exit filled in, or with a failure line (owner lost, Redis
 *             lost, output too big, a malformed entry).
 *   alone     Redis could not be reached and --redis-optional: the runner
 *             runs the command for this host only (notice says why).
 *   failed    Redis could not be reached: the flight ends at once with
 *             the failure line; or, busy set, -n found a flight that
 *             another host runs (or stops): the line says which host.
 *
 * What lives in Redis, all under one hash tag (PREFIX{NAME}, NAME being
 * the key's file name, key.h):
 *
 *   PREFIX{NAME}:lease      "FENCE:TOKEN:PID:HOST", PX the lease; held by
 *                           the leader, "!"-prefixed once it is stopping
 *                           a command nobody follows any more
 *   PREFIX{NAME}:fence      INCR'ed by every new leader: the fencing token
 *   PREFIX{NAME}:F:out      the flight's stream (F its fence): entries of
 *                           one field each, "o" or "e" and up to
 *                           SF_FLEET_CHUNK bytes of stdout or stderr in the
 *                           order the leader read them; the last entry is
 *                           "x" "HOW CODE ERR OUTSIZE ERRSIZE" (and "n" the
 *                           name EXIT carries), or "big" LIMIT when the
 *                           output went past --redis-max-bytes, or "lost"
 *                           "1" at the last possible ID when a leader that
 *                           lost its lease tried to write (fleet.c,
 *                           guard_lua)
 *   PREFIX{NAME}:F:presence followers' runners ("HOST:PID:TOKEN"), scored with
 *                           when their presence expires (Redis's clock)
 *   PREFIX{NAME}:F:meta     for --list: started (ms), argv (packed, proto.h),
 *                           cut, and the bytes published, o and e
 *   PREFIX{NAME}:F:forgotten  the lease of flight F once forgotten
 *   PREFIX{NAME}:F:cancel   a --cancel's grace (ms) for flight F's leader,
 *                           which takes it with its next renewal
 *   PREFIX{NAME}:cache      "ENDED_MS FENCE:TOKEN:PID:HOST": the last result
 *                           stored with --ttl, flight FENCE's stream, both
 *                           kept until the result's "keep until"
 *
 * A runner elected with --ttl that finds no flight but a result stored
 * less than its TTL ago (Redis's clock) follows that finished stream: one
 * run per TTL fleet-wide, and a stale-while-revalidate refresh on one host
 * replays what another host's refresh stored.
 *
 * Every write of the leader first checks, atomically with the write, that
 * the lease still holds its own value (a Lua script; for a chunk of
 * output, a transaction that begins with one), so a leader that was frozen
 * or cut off past its lease cannot add a byte to anyone's stream.
 */
#ifndef SF_FLEET_H
#define SF_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "output.h"
#include "proto.h"

#define SF_FLEET_CHUNK        (256 * 1024)
#define SF_FLEET_PREFIX       "sfexec:"
#define SF_FLEET_LEASE_MS     10000
#define SF_FLEET_MAX_BYTES    (256LL << 20)
/* How long a finished flight's stream stays readable in Redis. */
#define SF_FLEET_KEEP_MS      60000
/* The longest grace a --cancel from another host may ask for. */
#define SF_FLEET_GRACE_MAX_MS (24L * 3600 * 1000)

/* --redis and its companions, as the CLI took them. */
struct sf_fleet_conf {
	const char *url;
	const char *password;       /* SFEXEC_REDIS_PASSWORD, or NULL */
	const char *prefix;
	long lease_ms;
	long long max_bytes;
	bool optional;              /* --redis-optional */
	bool no_wait;               /* -n: follow no flight of another host */
	long long ttl_ms;           /* --ttl: a result stored in Redis less
	                               than this ago is replayed; 0: never */
};

enum sf_fleet_role {
	SF_FLEET_ELECTING,
	SF_FLEET_LEADER,
	SF_FLEET_FOLLOWER,
	SF_FLEET_ALONE,
	SF_FLEET_FAILED,
};

struct sf_fleet_impl;

struct sf_fleet {
	/* Set by the caller before sf_fleet_start. */
	sf_loop *loop;
	const struct sf_fleet_conf *conf;
	const char *name;           /* the key's file name */
	struct sf_output *out;
	void (*grew)(void *arg);    /* follower: the output grew */
	const uint8_t *argv;        /* the command, packed (proto.h), for */
	size_t argvlen;             /* --list on other hosts */
	bool argv_cut;
	int64_t started_ns;
	void *arg;
	/* Everything else changes from the loop's callbacks, so the runner
	 * looks at the fields below after every turn (runner.c, step). */

	/* Read by the caller. */
	enum sf_fleet_role role;
	uint64_t fence;             /* leader: SFEXEC_FENCING_TOKEN */
	char host[256];             /* follower: the leader's host */
	long leader_pid;
	bool done;                  /* follower: the flight ended */
	struct sf_msg exit;         /* follower, done: how (SF_END_FLEET: the
	                               failure line in name) */
	bool lost;                  /* leader: the lease is lost */
	bool busy;                  /* failed: -n, and a flight runs elsewhere */
	bool settled;               /* nothing left to say to Redis */
	bool abandoning, abandoned; /* leader: see sf_fleet_abandon */
	uint32_t followers;         /* leader: followers present, last seen */
	bool forgotten;             /* --forget asked from a host: take no
	                               joiners, store nothing */
	bool cancel;                /* leader: --cancel asked from a host */
	long cancel_ms;             /* with that grace */
	char notice[256];           /* alone, failed, lost: why; follower:
	                               whose flight (said under -v) */

	struct sf_fleet_impl *impl;
};

/* sf_fleet_check — conf can be used (the URL parses; built with Redis):
 * 0, or -1 with a one-line cause. */
int sf_fleet_check(const struct sf_fleet_conf *conf, char *cause,
    size_t causelen);

/* sf_fleet_start — connect and elect: role changes from the loop, or at
 * once when Redis cannot even be tried (a socket that is not there).
 * Returns 0, or -1 with errno (out of memory). */
int sf_fleet_start(struct sf_fleet *f);

/* sf_fleet_grew — leader: the output grew; publish it. */
void sf_fleet_grew(struct sf_fleet *f);

/* sf_fleet_finish — leader: the flight ended as exit says (the output is
 * all in): publish what is left and the end, then release the lease;
 * settled once Redis confirmed it (or cannot be reached).  keep_ms > 0:
 * the result is one to store (--ttl), for that long: Redis keeps the
 * stream as long, and a runner of the key elected within its TTL replays
 * it (PREFIX{NAME}:cache). */
void sf_fleet_finish(struct sf_fleet *f, const struct sf_msg *exit,
    uint64_t keep_ms);

/* sf_fleet_keep — leader: an invocation that came late (its --ttl heard
 * after the end) asks for the result to be kept keep_ms: with the end if
 * it has not gone yet, else on its own; settled again once Redis answered. */
void sf_fleet_keep(struct sf_fleet *f, uint64_t keep_ms);

/*
 * sf_fleet_abandon — leader: nobody on this host is attached; unless a
 * follower is present, mark the lease as stopping (no follower attaches to
 * it any more, and no new leader starts until it is released) and set
 * abandoned; otherwise followers says how many are, and the flight runs on.
 * abandoning while Redis has not answered.
 */
void sf_fleet_abandon(struct sf_fleet *f);

/* sf_fleet_release — leader: the command is gone; let the lease go
 * (settled when done).  Follower: this host's invocations all left; take
 * back its presence. */
void sf_fleet_release(struct sf_fleet *f);

void sf_fleet_free(struct sf_fleet *f);

/*
 * sf_fleet_steer — for sfexec --forget and --cancel with --redis: on the
 * Redis of conf, for the key whose file name is name, what SF_MSG_FORGET
 * removes the result stored in Redis (--ttl) and lets the key go: the
 * running flight's lease moves aside (PREFIX{NAME}:F:forgotten), so the
 * next runner anywhere starts a new flight while this one runs on for
 * those attached (its leader hears it with its next renewal, and stores
 * nothing); SF_MSG_CANCEL asks the
 * running flight's leader, wherever it is, to cancel it with grace_ms
 * (it hears it with its next renewal, within a third of its lease, and
 * its followers end as its own invocations do).  Blocks for at most a few
 * seconds (its own loop).  Returns 1 done, 0 nothing to do, -1 with a
 * line in cause.
 */
int sf_fleet_steer(const struct sf_fleet_conf *conf, const char *name,
    int what, long grace_ms, char *cause, size_t causelen);

struct sf_control_row;

/*
 * sf_fleet_list — for sfexec --list with --redis: append to *rows (n of
 * them, malloc'd as sf_control_free frees them) a row for every flight
 * and every stored result under conf's prefix in Redis, each with its
 * leader's host (a stored result's: the host that ran it); now_ns is the
 * clock that keep_until counts from.  Blocks for at most a few seconds.
 * 0, or -1 with a line in cause (rows appended so far are kept).
 */
int sf_fleet_list(const struct sf_fleet_conf *conf, int64_t now_ns,
    struct sf_control_row **rows, size_t *n, char *cause, size_t causelen);

#endif
