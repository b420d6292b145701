/*
 * runner.h — the process that owns a flight.
 *
 * The runner is a detached process (its own session, stdout and stderr on
 * /dev/null) forked from the invocation that starts the flight.  It is a
 * composition: an event loop (loop.h), the command as the source of the
 * output (command.h), the spools (output.h) and the fan-out to clients
 * (hub.h); runner.c only wires them and runs the flight's lifecycle.  It is
 * our own process, so unlike the rest of the library it sets signal
 * dispositions and exits.
 *
 * The key.  The runner holds the key's flight lock (flight.c) for the whole
 * flight: from the starter's election until the flight has ended, or, when
 * everyone left, until the command's whole process group is gone.  So at no
 * instant do two commands of one key run on one host (but after --forget,
 * which lets the key go early: runner.c): whoever finds no socket to join
 * waits on that lock.  On the way out the runner removes the lock file
 * (still holding the lock) and its own socket, renamed when it stopped
 * taking joiners, so nothing of the key is left.
 */
#ifndef SF_RUNNER_H
#define SF_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fleet.h"
#include "key.h"
#include "proto.h"

struct sf_runner_args {
	int dirfd;                  /* the runtime directory */
	const char *dir;            /* its path, for addresses and messages */
	const char *lockname;       /* the key's lock file in dirfd */
	int lockfd;                 /* open on it, with the flight lock (flight.c) */
	const char *sockname;       /* the key's socket in dirfd */
	int listenfd;               /* bound and listening on sockname */
	struct stat bound;          /* what sockname was when bound */
	int starterfd;              /* runner's end of a socketpair with the starter */
	int stdinfd;                /* the command's stdin if not our own 0, or -1 */
	const struct sf_key *key;   /* the flight's key (HELLO must match it) */
	const char *key_text;       /* --key's bytes, for --list; NULL: derived */
	size_t key_len;
	char *const *argv;          /* the command */
	long grace_ms;              /* SIGTERM to SIGKILL, once abandoned */
	const struct sf_fleet_conf *fleet; /* --redis (fleet.h), or NULL */
	/* A background refresh (sf_flight_refresh): nobody need be attached,
	 * the command runs to its end, and the result goes to cachefd. */
	bool refresh;
	int cachefd;                /* a cache directory, or -1 */
	uint64_t cache_keep_ms;
	bool cache_failures;
};

/*
 * sf_runner_spawn — fork the runner in a session of its own, so that
 * signals sent to the starter's process group or session never reach it.
 * Returns 0 in the caller, or -1 with errno.  The caller does not wait for
 * the runner: it outlives the caller when it must, and is reaped by init
 * (or by the caller's exit) when it ends.  The runner inherits the
 * caller's environment, working directory and standard input, which it
 * hands to the command, and closes every other descriptor it was not given.
 * The command's environment also gets SF_FLIGHTS_ENV (sfexec.h).
 */
int sf_runner_spawn(const struct sf_runner_args *a);

#endif
