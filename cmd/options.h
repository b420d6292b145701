/* options.h — the sfexec command line, parsed without side effects. */
#ifndef SF_OPTIONS_H
#define SF_OPTIONS_H

#include <stddef.h>

struct sf_cli {
	const char *key;          /* -k, or NULL: derive from argv and cwd */
	const char *dir;          /* -d, or NULL */
	const char *timeout_arg;  /* -w as written, for messages */
	long timeout_ms;          /* -w, or -1: wait forever */
	long grace_ms;            /* --grace, default 5000 */
	int no_wait, verbose, quiet, help, version;
	char **argv;              /* the command, NULL-terminated */
};

/*
 * sf_cli_parse — parse argv into c.  Options end at the first non-option
 * word (or "--"), so the command's own options are never taken for ours.
 * Returns 0, or -1 with a one-line reason in err (a usage error).  Never
 * prints or exits; may be called more than once (it resets getopt).
 */
int sf_cli_parse(int argc, char **argv, struct sf_cli *c, char *err, size_t errlen);

/* sf_parse_seconds — "1", "0.25", "1e-3" (>= 0, no hex, finite) to whole
 * milliseconds, rounded up; -1 if s is not such a number. */
long sf_parse_seconds(const char *s);

#endif
