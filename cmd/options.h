/* options.h — the sfexec command line, parsed without side effects. */
#ifndef SF_OPTIONS_H
#define SF_OPTIONS_H

#include <stddef.h>

/* What the invocation does: run (or join) a command, or one of the
 * control modes of control.h. */
enum { SF_MODE_RUN, SF_MODE_LIST, SF_MODE_FORGET, SF_MODE_CANCEL };

struct sf_cli {
	int mode;                 /* SF_MODE_* */
	int json;                 /* --json (--list only) */
	const char *key;          /* -k, or NULL: derive from argv and cwd */
	const char *dir;          /* -d, or NULL */
	const char *timeout_arg;  /* -w as written, for messages */
	long timeout_ms;          /* -w, or -1: wait forever */
	long grace_ms;            /* --grace, default 5000 */
	int no_wait, verbose, quiet, help, version;
	long ttl_ms;              /* --ttl, or -1: no cache */
	long swr_ms;              /* --stale-while-revalidate, or -1 */
	long sie_ms;              /* --stale-if-error, or -1 */
	int cache_failures;       /* --cache-failures */
	int refresh;              /* --refresh */
	const char *cache_dir;    /* --cache-dir, or NULL: the caller takes
	                             SFEXEC_CACHE_DIR, then the runtime dir */
	char **key_env;           /* --key-env NAMEs in the order given */
	size_t nkey_env;
	char **key_file;          /* --key-file PATHs in the order given */
	size_t nkey_file;
	const char *redis;        /* --redis URL, or NULL: the caller takes
	                             SFEXEC_REDIS; not parsed here (redis.c) */
	const char *redis_prefix; /* --redis-prefix, or NULL: the caller's
	                             default ("sfexec:") */
	long lease_ms;            /* --lease, or -1: the caller's default */
	int redis_optional;       /* --redis-optional */
	long long redis_max_bytes; /* --redis-max-bytes, or -1: the caller's
	                             default */
	char **argv;              /* the command, NULL-terminated; NULL for
	                             --list, and for --forget and --cancel
	                             with -k and no command */
};

/*
 * sf_cli_parse — parse argv into c.  Options end at the first non-option
 * word (or "--"), so the command's own options are never taken for ours.
 * An option that does not belong to the mode (--list, --forget, --cancel,
 * or a run) is a usage error, never silently ignored.
 * Every string in c points into argv.  Returns 0, or -1 with a one-line
 * reason in err (a usage error; out of memory included), and then c holds
 * no memory.  Never prints or exits; may be called more than once (it
 * resets getopt), each time into a struct of its own or after sf_cli_free.
 *
 * The one allocation: the key_env and key_file arrays, made at the first
 * --key-env or --key-file (argc bounds their length).  Release them with
 * sf_cli_free.  With help or version set nothing else is filled in, and
 * nothing is held.
 */
int sf_cli_parse(int argc, char **argv, struct sf_cli *c, char *err, size_t errlen);

/*
 * sf_cli_free — release what sf_cli_parse allocated in c (the key_env and
 * key_file arrays; the strings stay argv's) and empty those four fields.
 * The rest of c is untouched.  Safe on a c that holds nothing.
 */
void sf_cli_free(struct sf_cli *c);

/* The longest duration (-w, --grace, --ttl, the stale windows): 365 days,
 * in seconds. */
#define SF_DURATION_MAX_S 31536000L

/*
 * sf_parse_duration — a duration in the syntax of timeout(1): a decimal
 * number ("1", "0.25", ".5", "1e-3"; no sign, hex, infinity or spaces),
 * then at most one unit: s seconds (the default), m minutes, h hours,
 * d days.  Stores it in *ms as whole milliseconds, rounded up, computed
 * exactly from the decimal digits (no binary floating point).  Returns 0,
 * or -1 with errno EINVAL (not such a duration) or ERANGE (more than
 * SF_DURATION_MAX_S); *ms is then untouched.
 */
int sf_parse_duration(const char *s, long *ms);

/*
 * sf_duration_unit — for a message about a duration s that
 * sf_parse_duration accepted: stores in *numlen the length of its number as
 * written, and returns its unit as a word, singular for exactly "1"
 * ("second", "seconds", "minute", "hours", ...; static storage).
 */
const char *sf_duration_unit(const char *s, int *numlen);

/* The bounds of --lease, in milliseconds: 1 second to 1 day. */
#define SF_LEASE_MIN_MS 1000L
#define SF_LEASE_MAX_MS 86400000L

/* The longest --redis-prefix, in bytes. */
#define SF_REDIS_PREFIX_MAX 64

/* The largest size (--redis-max-bytes): 1 PiB. */
#define SF_SIZE_MAX (1LL << 50)

/*
 * sf_parse_size — a size in bytes: decimal digits (no sign, spaces or
 * fraction), then at most one multiple K, M, G or T (or k, m, g, t: powers
 * of 1024), which "iB" or "B" may follow; "B" may also follow the digits
 * alone.  MB is read as MiB: "256M", "256MiB" and "256MB" are all
 * 268435456.  Stores it in *bytes, computed exactly in integers.  Returns
 * 0, or -1 with errno EINVAL (not such a size) or ERANGE (more than
 * SF_SIZE_MAX); *bytes is then untouched.
 */
int sf_parse_size(const char *s, long long *bytes);

#endif
