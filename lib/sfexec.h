/*
 * sfexec.h — cross-process flights: the engine behind the sfexec command.
 *
 * A flight is one execution of a command shared by every invocation that
 * attaches to it under the same key.  The first invocation (the starter)
 * elects itself under the key's lock, binds the key's socket and forks a
 * detached runner (runner.h) that owns the command; every invocation, the
 * starter included, then attaches to the runner as a client, receives the
 * output spools and streams them to its own stdout and stderr from byte 0.
 * The wire protocol is in proto.h.
 *
 * These functions are for a single-threaded program such as sfexec: they
 * fork (the runner), and sf_flight_attach blocks for as long as the key's
 * lock is held by another starter (a few system calls).  They do not print,
 * exit, or change signal dispositions in the calling process.
 */
#ifndef SF_SFEXEC_H
#define SF_SFEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fleet.h"
#include "key.h"
#include "proto.h"

typedef struct sf_flight sf_flight;

struct sf_opts {
	int dirfd;                /* open runtime directory (rundir.h) */
	const char *dir;          /* its path, for the socket and messages */
	struct sf_key key;
	const char *key_text;     /* the key's bytes as given (--list shows
	                             them); NULL: derived from the command */
	size_t key_len;
	char *const *argv;        /* run if this invocation starts the flight */
	int no_wait;              /* 1: do not join a running flight (EBUSY) */
	long grace_ms;            /* abandoned command: SIGTERM to SIGKILL */
	long timeout_ms;          /* bounds the whole invocation; -1: none */
	/* Store the flight's result (cache.h) when cache_keep_ms > 0: */
	int cachefd;              /* in this cache directory */
	uint64_t cache_keep_ms;   /* for this long after the flight's end */
	int cache_failures;       /* a non-zero exit status too */
	/* > 0: a result younger than this that a flight stored while this
	 * invocation was on its way (after it found none) is replayed
	 * instead of starting a new flight. */
	long long cache_ttl_ms;
	/* --redis: the runner of a flight this invocation starts coalesces
	 * with other hosts (fleet.h); NULL: this host only.  Invocations on
	 * one host coalesce into its runner whatever their --redis. */
	const struct sf_fleet_conf *fleet;
};

enum sf_role { SF_STARTED = 1, SF_JOINED = 2, SF_REPLAYED = 3 };

/* How sf_flight_stream ended, beyond enum sf_end (proto.h). */
enum {
	SF_END_OWNER_DIED = 100,  /* the runner vanished before EXIT */
	SF_END_TIMEOUT    = 101,  /* timeout_ms passed first */
};

struct sf_outcome {
	int how;                  /* enum sf_end, SF_END_OWNER_DIED or SF_END_TIMEOUT */
	int code;                 /* exit status or signal number */
	int err;                  /* errno for SF_END_EXEC_FAILED, SF_END_FAILED */
	char name[SF_PROTO_MAX_NAME + 1]; /* the command, or the step that failed */
};

/*
 * sf_flight_attach — join the key's running flight, or start one (or, with
 * o->cache_ttl_ms, replay a result stored meanwhile: role SF_REPLAYED).  Returns
 * a flight handle once the runner has welcomed this invocation, or NULL with
 * errno set and a one-line explanation in cause: EBUSY when o->no_wait and a
 * flight is running; ETIMEDOUT when o->timeout_ms (counted from this call,
 * and kept in the handle for sf_flight_stream) passed first; EPERM when the socket belongs to another user; EPROTO
 * when the runner speaks another protocol; other values from the system.
 */
sf_flight *sf_flight_attach(const struct sf_opts *o, char *cause, size_t causelen);

enum sf_role sf_flight_role(const sf_flight *f);
pid_t sf_flight_runner(const sf_flight *f);   /* the runner's pid */
pid_t sf_flight_starter(const sf_flight *f);  /* the starter's pid */
long long sf_flight_age(const sf_flight *f);  /* SF_REPLAYED: the result's age, ms */
/* sf_flight_notice — what the runner wants the invocation to say, or "":
 * fleet mode on this host only (--redis-optional); and when verbose
 * (-v), the host whose flight this host follows. */
const char *sf_flight_notice(const sf_flight *f, bool verbose);

/*
 * sf_flight_stream — copy the flight's stdout to out and stderr to err as it
 * arrives, until the flight ends, then fill *oc.  When out and err are one
 * open file description (`2>&1`: kcmp(2) KCMP_FILE says so; without kcmp,
 * one file that is not a regular file), both streams go through out in the
 * order the runner read them from the command, live and from byte 0 alike;
 * that order is asked for at attach, when this process's descriptors 1 and
 * 2 are one open file description too.  The deadline set by the
 * options' timeout_ms at attach bounds it, also while out or err is blocked
 * (SF_END_TIMEOUT).  Returns 0 (with *oc filled, also for SF_END_OWNER_DIED, in which
 * case the command's process group has been sent SIGKILL, and for
 * SF_END_TIMEOUT), or -1 with errno when writing to out or err failed (for
 * EPIPE, only when SIGPIPE is ignored) or the spool could not be read; cause
 * then says which.
 */
int sf_flight_stream(sf_flight *f, int out, int err,
    struct sf_outcome *oc, char *cause, size_t causelen);

/*
 * sf_flight_on_note — have sf_flight_stream call fn(arg, what, sig) when the
 * runner says that the command's leader was stopped (what SF_NOTE_STOPPED,
 * proto.h; sig the signal that stopped it: SIGTSTP, SIGSTOP, SIGTTIN or
 * SIGTTOU) or continued (SF_NOTE_CONTINUED, sig 0), so that the caller can
 * say why no output comes: the library prints nothing.  An invocation that
 * attaches while the command is stopped hears SF_NOTE_STOPPED first thing;
 * one that reads slowly may hear only the latest state.  fn runs in the
 * thread of sf_flight_stream, between two writes of output, and must not
 * call sf_flight_stream or sf_flight_close on f.  fn NULL: no more calls.
 */
typedef void sf_flight_note_fn(void *arg, int what, int sig);
void sf_flight_on_note(sf_flight *f, sf_flight_note_fn *fn, void *arg);

/*
 * sf_flight_cached — the key's result stored in the cache directory
 * cachefd (cache.h), if it ended less than ttl_ms ago, as a handle
 * (role SF_REPLAYED) that sf_flight_stream replays like a flight that has
 * ended: the same bytes, in the same order for `2>&1`, and its exit
 * status.  timeout_ms bounds the replay as it bounds a flight.  NULL with
 * errno ENOENT when there is no such result (a damaged or expired entry is
 * removed), or another errno.  sf_flight_age tells the result's age.
 */
sf_flight *sf_flight_cached(int cachefd, const struct sf_key *key,
    long long ttl_ms, long timeout_ms);

/*
 * sf_flight_refresh — start a flight of the key that nobody attaches to
 * and that runs to its end (no abandon, no grace kill) for its result to be
 * stored in o->cachefd (stale-while-revalidate), with /dev/null as its
 * stdin and none of the caller's descriptors.  Never waits: when a flight
 * of the key takes joiners, is being started or is shutting down, it does
 * nothing.  Returns 1 started, 0 nothing to do, -1 with errno and cause.
 */
int sf_flight_refresh(const struct sf_opts *o, char *cause, size_t causelen);

/* sf_flight_close — detach (if still attached) and free the handle. */
void sf_flight_close(sf_flight *f);

#endif
