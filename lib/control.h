/*
 * control.h — see and steer the flights and stored results of a runtime
 * directory: sfexec --list, --forget and --cancel.
 *
 * A control client talks to a runner over the key's socket (proto.h,
 * "Control connections"): it is never attached, so asking never keeps a
 * flight alive or slows its output.  Every question is bounded by a
 * timeout: a stopped or stuck runner costs its row that long, then is
 * shown as SF_ROW_UNRESPONSIVE.  Like the rest of the library this code
 * never prints or exits; the CLI renders the rows (cmd/list.c).
 */
#ifndef SF_CONTROL_H
#define SF_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "key.h"

/* A row's state: enum sf_flight_state's values (proto.h), then these. */
enum {
	SF_ROW_CACHED       = 10, /* a stored result (cache.h) */
	SF_ROW_UNRESPONSIVE = 11, /* a runner that did not answer in time */
	SF_ROW_INCOMPATIBLE = 12, /* a runner of another protocol version */
};

/* One flight or stored result.  Unknown numbers are 0 or -1 as said. */
struct sf_control_row {
	int state;                  /* SF_STATE_* (proto.h) or SF_ROW_* */
	char id[SF_KEY_NAME_LEN + 1]; /* the key's file name (key.h) */
	bool derived;               /* the key was derived from the command */
	uint8_t *key;               /* the key's bytes (malloc'd); NULL when
	                               derived or unknown */
	size_t keylen;
	uint8_t *argv;              /* the arguments, each NUL-terminated, back
	                               to back (malloc'd); NULL when unknown */
	size_t argvlen;
	bool argv_cut;              /* the last argument was cut, and any
	                               after it left out (SF_PROTO_MAX_ARGV) */
	pid_t runner_pid;           /* in the caller's PID namespace; 0 when
	                               unknown or not visible there */
	int64_t started_ns;         /* CLOCK_REALTIME ns; 0 unknown */
	int64_t ended_ns;           /* 0 while running, or unknown */
	int64_t keep_until_ns;      /* stored results only; 0 otherwise */
	long invocations;           /* attached; -1 unknown or not a flight */
	bool sizes_known;
	uint64_t size[2];           /* stdout, stderr bytes so far */
	int exit_status;            /* as a shell says it (128+N for signal
	                               N); -1 while running, or unknown */
	char *host;                 /* a row of the fleet's (fleet.h): the
	                               leader's host name (malloc'd), whose pid
	                               runner_pid is there; NULL: this host */
};

/*
 * sf_control_list — every flight that has a runner in the runtime directory
 * dirfd (path dir), then every stored result in the cache directory cachefd
 * (-1: none), into a new array *rows of *n rows: flights by start, then
 * results by key.  Each runner gets at most timeout_ms to answer.  Entries
 * that vanish while looked at (a flight that ends) are left out.  Returns 0,
 * or -1 with errno and a one-line cause (the directory cannot be read, no
 * memory).  Free the rows with sf_control_free.
 */
int sf_control_list(int dirfd, const char *dir, int cachefd, long timeout_ms,
    struct sf_control_row **rows, size_t *n, char *cause, size_t causelen);

/* sf_control_free — free rows[0 .. n) and the array. */
void sf_control_free(struct sf_control_row *rows, size_t n);

/*
 * sf_control_forget — Go's Forget for key k: remove its stored result from
 * cachefd (-1: none), and have a flight of the key that takes joiners stop
 * taking them and let the key go, so the next invocation starts a new
 * flight at once while this one runs on for the invocations attached.
 * Returns 1 when something was forgotten, 0 when there was nothing, -1 with
 * errno and cause.
 */
int sf_control_forget(int dirfd, const char *dir, int cachefd,
    const struct sf_key *k, long timeout_ms, char *cause, size_t causelen);

/*
 * sf_control_cancel — end every flight of key k that runs a command (the
 * one taking joiners, and forgotten ones): SIGTERM to its process group,
 * SIGKILL grace_ms later.  Its invocations end as if the command had died
 * of the signal; nothing is stored.  Returns 1 when a flight was
 * cancelled, 0 when none ran, -1 with errno and cause.
 */
int sf_control_cancel(int dirfd, const char *dir, const struct sf_key *k,
    long grace_ms, long timeout_ms, char *cause, size_t causelen);

#endif
