/*
 * command.h — the local command as a source of a flight's output: it is
 * started in a process group of its own with the starter's signal state,
 * its two pipes are read into the output's spools, it is reaped, and when
 * nobody is left to read it, it is stopped (SIGTERM, then SIGKILL after the
 * grace period).
 *
 * The runner is a child subreaper (PR_SET_CHILD_SUBREAPER): every process
 * of the command that loses its parent becomes the runner's child and is
 * reaped here.  That is what makes signalling the command's process group
 * by number safe: the group's number cannot be reused while any member is
 * alive or unreaped, and the members are all the runner's descendants, so
 * a group that kill(-pgid, 0) finds is still the command's.
 */
#ifndef SF_COMMAND_H
#define SF_COMMAND_H

#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "loop.h"
#include "output.h"

#define SF_COMMAND_MAXSIG 8

/* The starter's signal state, which the command gets back before exec. */
struct sf_command_restore {
	int n;
	int sig[SF_COMMAND_MAXSIG];
	struct sigaction act[SF_COMMAND_MAXSIG];
	sigset_t mask;
	struct rlimit nofile;
};

struct sf_command {
	/* Set by the caller before sf_command_start. */
	sf_loop *loop;
	struct sf_output *out;
	char *const *argv;
	long grace_ms;
	const struct sf_command_restore *restore;
	int stdinfd;                /* the command's stdin, or -1: ours */
	void (*grew)(void *arg);    /* the output grew */
	void (*ended)(void *arg);   /* reaped, both pipes at end of file */
	void (*stopped)(void *arg); /* stop_sig changed; may be NULL */
	void *arg;

	/* Read by the caller. */
	pid_t pid;                  /* also its process group; 0 if none */
	bool done;                  /* what ended() announced */
	int wstatus;
	int exec_err;               /* errno of a failed exec, 0 if none */
	int fail_err;               /* the source's own failure, 0 if none */
	const char *fail_what;
	int stop_sig;               /* the leader was last seen stopped by it;
	                               0 if not, or since it continued */

	/* Private. */
	int pipes[2], execfd;
	size_t pipe_size[2];
	bool reaped, abandoned, kill_sent;
	struct sf_timer batch[2], kill_timer, gone_timer;
};

/*
 * sf_command_start — fork and exec the command with stdin from stdinfd (or
 * the caller's descriptor 0), stdout and stderr into pipes read from the loop.  Returns 0;
 * or -1 with fail_err and fail_what set, and then ended() is due at once
 * (the caller checks done).
 */
int sf_command_start(struct sf_command *c);

/*
 * sf_command_reap — collect every child that exited, and see whether the
 * command's leader stopped or continued since the last look (on SIGCHLD,
 * which the loop asks for on stops and continues too): stopped() is told.
 * Only the leader's stops are looked at (waitpid on its pid with WUNTRACED
 * and WCONTINUED); every other child is only reaped, with waitpid(-1)
 * without them, so a stopped orphan is never mistaken for an exited one.
 */
void sf_command_reap(struct sf_command *c);

/* sf_command_abandon — nobody reads the output any more: SIGTERM the
 * process group now, SIGKILL it after the grace period. */
void sf_command_abandon(struct sf_command *c);

/* sf_command_gone — nothing of the command's process group is left. */
bool sf_command_gone(struct sf_command *c);

#endif
