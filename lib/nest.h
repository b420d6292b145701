/*
 * nest.h — no flight waits for itself.
 *
 * A command that calls sfexec with its own key and runtime directory,
 * directly or through descendants, would join its own flight and wait for
 * its own end (with output, a loop that fills the disk).  The runner marks
 * the command's environment with the flight; an invocation that finds its
 * key there refuses at once.  The mark survives setsid, containers and
 * PID namespaces; a descendant that clears its environment is still caught
 * by the runner, which refuses a joiner from its own session (runner.c).
 *
 *   SFEXEC_FLIGHTS="DEV:INO:NAME DEV:INO:NAME ..."
 *
 * DEV and INO identify the runtime directory whatever path reaches it, NAME
 * is the key's socket name; one entry per enclosing flight, newest last.
 */
#ifndef SF_NEST_H
#define SF_NEST_H

#define SF_NEST_ENV "SFEXEC_FLIGHTS"

/* sf_nest_mark — add the flight of name in dirfd to the environment the
 * command will inherit.  For the runner only (it calls setenv).  0/-1. */
int sf_nest_mark(int dirfd, const char *name);

/* sf_nest_inside — 1 when this process runs inside the flight of name in
 * dirfd, per the environment; else 0. */
int sf_nest_inside(int dirfd, const char *name);

#endif
