/*
 * runner.h — the process that owns a flight.
 *
 * The runner is a detached process (its own session, stdout and stderr on
 * /dev/null) forked from the invocation that starts the flight.  It owns the
 * listening socket, the command (its own process group), the command's
 * output pipes, the spools, and the clients; it fans progress out to the
 * clients (proto.h) and reaps the command.  It is our own process, so unlike
 * the rest of the library it sets signal dispositions and exits.
 */
#ifndef SF_RUNNER_H
#define SF_RUNNER_H

#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct sf_runner_args {
	int dirfd;                  /* the runtime directory */
	const char *lockname;       /* the key's lock file in dirfd */
	const char *sockname;       /* the key's socket in dirfd */
	int listenfd;               /* bound and listening on sockname */
	int starterfd;              /* runner's end of a socketpair with the starter */
	uint8_t digest[SF_DIGEST_LEN];
	char *const *argv;          /* the command */
	long grace_ms;              /* SIGTERM to SIGKILL, once abandoned */
};

/*
 * sf_runner_spawn — fork the runner in a session of its own, so that
 * signals sent to the starter's process group or session never reach it.
 * Returns 0 in the caller, or -1 with errno.  The caller does not wait for
 * the runner: it outlives the caller when it must, and is reaped by init
 * (or by the caller's exit) when it ends.  The runner inherits the
 * caller's environment, working directory and standard input, which it
 * hands to the command, and closes every other descriptor it was not given.
 */
int sf_runner_spawn(const struct sf_runner_args *a);

#endif
