/*
 * sfexec — run a command once for every concurrent invocation with the same
 * key, and give each of them its output and exit status.
 *
 * This file is the command line only: options, usage, messages and the
 * mapping from a flight's outcome to an exit status.  The engine is lib/.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "options.h"
#include "cache.h"
#include "clock.h"
#include "control.h"
#include "list.h"
#include "rundir.h"
#include "sfexec.h"

/* The wrapper convention of coreutils (timeout, nohup, env). */
enum {
	EXIT_BUSY     = 75,   /* -n and the key is busy (EX_TEMPFAIL) */
	EXIT_TIMEDOUT = 124,
	EXIT_FAILURE_ = 125,  /* sfexec itself failed */
	EXIT_CANNOT   = 126,
	EXIT_ENOENT   = 127,
};

/* How long a runner has to answer --list (each), --forget and --cancel: a
 * stopped one must cost little, a busy machine's live one must make it. */
#define LIST_TIMEOUT_MS    1000
#define CONTROL_TIMEOUT_MS 5000

static int quiet;

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: sfexec [-nqvV] [-k key] [-d dir] [-w seconds] [--grace seconds]\n"
"              [--ttl seconds] [--stale-while-revalidate seconds]\n"
"              [--stale-if-error seconds] [--cache-failures] [--refresh]\n"
"              [--cache-dir dir] [--key-env name] [--key-file path]\n"
"              [--redis url [--redis-prefix prefix] [--lease seconds]\n"
"               [--redis-optional] [--redis-max-bytes size]]\n"
"              [--] command [arg ...]\n"
"       sfexec --list [--json] [-d dir] [--cache-dir dir]\n"
"              [--redis url [--redis-prefix prefix]]\n"
"       sfexec --forget [-d dir] [--cache-dir dir] [--key-env name]\n"
"              [--key-file path] [--redis url [--redis-prefix prefix]]\n"
"              (-k key | [--] command [arg ...])\n"
"       sfexec --cancel [-d dir] [--grace seconds] [--key-env name]\n"
"              [--key-file path] [--redis url [--redis-prefix prefix]]\n"
"              (-k key | [--] command [arg ...])\n"
"\n"
"Run COMMAND once for all concurrent invocations with the same key; each\n"
"invocation gets the command's stdout, stderr and exit status.\n"
"\n"
"  -k, --key KEY            flight key, 1 to 4096 bytes (default: derived\n"
"                           from the command line and working directory)\n"
"  -d, --dir DIR            runtime directory (default: $SFEXEC_DIR, else\n"
"                           $XDG_RUNTIME_DIR/sfexec, else /tmp/sfexec-$UID)\n"
"  -n, --no-wait            if a flight for the key is running, exit 75\n"
"  -w, --wait-timeout SECS  stop waiting after SECS and exit 124 (the whole\n"
"                           invocation: lock, flight, a blocked output)\n"
"      --grace SECS         when every invocation has left, SIGTERM the\n"
"                           command, then SIGKILL after SECS (default 5)\n"
"  -v, --verbose            say whether this invocation started or joined\n"
"  -q, --quiet              no messages for -n and -w outcomes\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Caching:\n"
"      --ttl SECS           replay the key's stored result if younger than\n"
"                           SECS, running nothing; else run as usual and\n"
"                           store the result (exit status 0 only)\n"
"      --stale-while-revalidate SECS\n"
"                           up to SECS past the TTL, replay the result at\n"
"                           once and refresh it in the background\n"
"      --stale-if-error SECS\n"
"                           up to SECS past the TTL, run afresh, and replay\n"
"                           the stored result only if the run fails\n"
"      --cache-failures     store a non-zero exit status too\n"
"      --refresh            do not read the cache: run (or join), then store\n"
"      --cache-dir DIR      where results live (default: $SFEXEC_CACHE_DIR,\n"
"                           else the runtime directory)\n"
"\n"
"Key:\n"
"      --key-env NAME       mix the value of environment variable NAME (or\n"
"                           that it is unset) into the key; repeatable\n"
"      --key-file PATH      mix PATH's device, inode, size and modification\n"
"                           time (or that it is missing) into the key;\n"
"                           repeatable\n"
"\n"
"Fleet (one run across hosts, on Redis; see FLEET in sfexec(1)):\n"
"      --redis URL          coalesce with every host using the same Redis:\n"
"                           redis://[USER@]HOST[:PORT][/DB] or\n"
"                           unix:///PATH[?db=N] (default: $SFEXEC_REDIS;\n"
"                           password: $SFEXEC_REDIS_PASSWORD)\n"
"      --redis-prefix P     prefix of sfexec's Redis keys (default sfexec:)\n"
"      --lease SECS         how long a leader may go silent (default 10)\n"
"      --redis-optional     if Redis cannot be reached, run on this host only\n"
"      --redis-max-bytes N  most output published to Redis (default 256M)\n"
"\n"
"Control (exit 0 done, 1 nothing to do, 125 failed):\n"
"      --list               show the flights and stored results, then exit\n"
"      --json               with --list: JSON Lines, one object per row\n"
"      --forget             forget the key's stored result and running\n"
"                           flight: the next invocation starts afresh\n"
"      --cancel             stop the key's running flight: SIGTERM, then\n"
"                           SIGKILL after --grace (default 5 s)\n"
"\n"
"SECS is a number of seconds (30, 0.5, 1e-3) or a number with a unit s, m,\n"
"h or d (90s, 1.5m, 2h, 1d), as timeout(1) takes it; at most 365 days.\n"
"\n"
"Exit status: the command's; 128+N if it died of signal N; 124 timed out;\n"
"125 sfexec failed; 126 command cannot run; 127 command not found;\n"
"75 busy (-n).\n");
}

/*
 * One line on stderr, in one write(2): the invocations of a flight often
 * share one stderr, and their lines must not interleave.  A line too long
 * for the buffer is cut, never left without its newline.
 */
static void __attribute__((format(printf, 1, 2)))
msg(const char *fmt, ...)
{
	char line[4096];
	size_t len, off;
	ssize_t n;
	va_list ap;
	int k;

	memcpy(line, "sfexec: ", 8);
	va_start(ap, fmt);
	k = vsnprintf(line + 8, sizeof(line) - 9, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	len = 8 + ((size_t)k < sizeof(line) - 9 ? (size_t)k : sizeof(line) - 10);
	line[len++] = '\n';
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(STDERR_FILENO, line + off, len - off)) == -1 &&
		    errno != EINTR)
			return;
		else if (n == -1)
			n = 0;
}

/* Make sure 0, 1 and 2 are open, so no socket or lock of ours becomes one. */
static void
sanitize_stdio(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			exit(EXIT_FAILURE_);
}

static void
on_alarm(int sig)
{
	(void)sig;      /* only here to interrupt a blocked system call */
}

/*
 * -w bounds the whole invocation, also where it blocks in the kernel (the
 * key's lock, a stdout nobody reads).  As flock(1) does, a timer signal
 * without SA_RESTART interrupts the call; the library then sees its
 * deadline has passed.  The timer repeats, so a call entered just before
 * the deadline is interrupted too.
 */
static int
arm_deadline(long timeout_ms)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = timeout_ms % 1000 * 1000 + 1000;
	it.it_interval.tv_usec = 10000;
	return sigaction(SIGALRM, &sa, NULL) == -1 ||
	    setitimer(ITIMER_REAL, &it, NULL) == -1 ? -1 : 0;
}

/* The flight's command was stopped or continued (sf_flight_on_note): say
 * why nothing comes, and how it goes on. */
static void
on_note(void *arg, int what, int sig)
{
	const char *name;

	(void)arg;
	if (what == SF_NOTE_CONTINUED) {
		msg("the command continues");
		return;
	}
	if ((name = sigabbrev_np(sig)) != NULL)
		msg("the command is stopped (SIG%s); it resumes with SIGCONT", name);
	else
		msg("the command is stopped (signal %d); it resumes with SIGCONT", sig);
}

static int
report(const struct sf_outcome *oc, pid_t runner, const char *timeout_arg)
{
	const char *unit;
	int numlen;

	switch (oc->how) {
	case SF_END_EXITED:
		return oc->code;
	case SF_END_SIGNALED:
		return 128 + oc->code;
	case SF_END_EXEC_FAILED:
		msg("failed to run command '%s': %s", oc->name, strerror(oc->err));
		return oc->err == ENOENT ? EXIT_ENOENT : EXIT_CANNOT;
	case SF_END_FAILED:
		msg("flight failed: %s: %s", oc->name, strerror(oc->err));
		return EXIT_FAILURE_;
	case SF_END_FLEET:
		msg("%s", oc->name);
		return EXIT_FAILURE_;
	case SF_END_BUSY:
		if (!quiet)
			msg("%s", oc->name);
		return EXIT_BUSY;
	case SF_END_OWNER_DIED:
		if (runner > 0)
			msg("flight owner (pid %ld) died", (long)runner);
		else    /* in a PID namespace we cannot see */
			msg("flight owner died");
		return EXIT_FAILURE_;
	case SF_END_TIMEOUT:
		/* Nothing about the flight: it goes on for the others, and is
		 * abandoned (see --grace) if this was the last invocation.
		 * Only -w times out, so timeout_arg is set. */
		if (!quiet && timeout_arg != NULL) {
			unit = sf_duration_unit(timeout_arg, &numlen);
			msg("timed out after %.*s %s", numlen, timeout_arg, unit);
		}
		return EXIT_TIMEDOUT;
	}
	msg("unknown outcome %d from the flight", oc->how);
	return EXIT_FAILURE_;
}

/* An age for a message: "1 second", "12 seconds", "0.4 seconds". */
static const char *
age_text(long long ms, char *buf, size_t len)
{
	if (ms < 10000 && ms % 1000 >= 100)
		snprintf(buf, len, "%lld.%lld seconds", ms / 1000, ms % 1000 / 100);
	else
		snprintf(buf, len, "%lld second%s", ms / 1000, ms / 1000 == 1 ? "" : "s");
	return buf;
}

/*
 * Join or start the key's flight: -1 with *fp attached (and the -v line
 * printed), or the exit status when that failed.
 */
static int
attach(const struct sf_opts *o, const struct sf_cli *cli, sf_flight **fp)
{
	struct sf_outcome oc;
	char cause[512], when[64];
	sf_flight *f;

	if ((f = sf_flight_attach(o, cause, sizeof(cause))) == NULL) {
		if (errno == EBUSY) {
			if (!quiet)
				msg("%s", cause);
			return EXIT_BUSY;
		}
		if (errno == ETIMEDOUT) {
			oc.how = SF_END_TIMEOUT;
			return report(&oc, 0, cli->timeout_arg);
		}
		msg("%s", cause[0] ? cause : strerror(errno));
		return EXIT_FAILURE_;
	}
	if (cli->verbose) {
		if (sf_flight_role(f) == SF_REPLAYED)
			msg("replayed a stored result (%s old; stored while this "
			    "invocation came)", age_text(sf_flight_age(f), when,
			    sizeof(when)));
		else if (sf_flight_role(f) == SF_STARTED)
			msg("started flight (runner pid %ld)", (long)sf_flight_runner(f));
		else if (sf_flight_starter(f) > 0)
			msg("joined flight (started by pid %ld)", (long)sf_flight_starter(f));
		else
			msg("joined flight (started in another PID namespace)");
	}
	if (sf_flight_notice(f, cli->verbose)[0] != '\0' && !quiet)
		msg("%s", sf_flight_notice(f, cli->verbose));
	sf_flight_on_note(f, on_note, NULL);
	*fp = f;
	return -1;
}

/* Stream f to out and err, close it, and say how it ended. */
static int
stream(sf_flight *f, int out, int err, const struct sf_cli *cli)
{
	struct sf_outcome oc;
	char cause[512];
	int status;

	if (sf_flight_stream(f, out, err, &oc, cause, sizeof(cause)) == -1) {
		msg("%s: %s", cause, strerror(errno));
		sf_flight_close(f);
		return EXIT_FAILURE_;
	}
	status = report(&oc, sf_flight_runner(f), cli->timeout_arg);
	sf_flight_close(f);
	return status;
}

/* ---- the cache (--ttl) ------------------------------------------------------------ */

/* The cache directory: --cache-dir, SFEXEC_CACHE_DIR, or the runtime
 * directory; -1 (message printed) when it cannot be used. */
static int
open_cache(const struct sf_cli *cli, const struct sf_opts *o)
{
	const char *dir = cli->cache_dir != NULL ? cli->cache_dir :
	    getenv("SFEXEC_CACHE_DIR");
	char cause[512];
	int fd;

	if (dir == NULL || *dir == '\0')
		fd = fcntl(o->dirfd, F_DUPFD_CLOEXEC, 3);
	else
		fd = sf_rundir_open(dir, cause, sizeof(cause));
	if (fd == -1)
		msg("cache directory %s", dir == NULL || *dir == '\0' ?
		    strerror(errno) : cause);
	return fd;
}

/* -v: a result that should have been stored was not (the cache directory
 * is full or cannot be written; a failure does not replace a success). */
static void
say_if_not_stored(const struct sf_opts *o, long long begun)
{
	sf_flight *f;

	f = sf_flight_cached(o->cachefd, &o->key, sf_clock_ms() - begun + 1000, -1);
	if (f != NULL)
		sf_flight_close(f);
	else
		msg("the result was not stored in the cache");
}

/*
 * An invocation with --ttl (man page, CACHING): a stored result young
 * enough is replayed; one in the stale-while-revalidate window too, while
 * a refresh starts; one in the stale-if-error window is kept back while a
 * flight runs, and replayed only if that flight stores nothing.  Anything
 * else is a flight that stores its result.
 */
static int
cached(struct sf_opts *o, const struct sf_cli *cli)
{
	long long ttl = cli->ttl_ms, swr = cli->swr_ms, sie = cli->sie_ms;
	long long window = swr > sie ? swr : sie, age = 0;
	sf_flight *f, *stale = NULL, *fresh;
	char cause[512], when[64];
	int status, null, r;
	long long begun = sf_clock_ms(), left;

	if ((o->cachefd = open_cache(cli, o)) == -1)
		return EXIT_FAILURE_;
	o->cache_keep_ms = (uint64_t)ttl + (uint64_t)(window > 0 ? window : 0);
	o->cache_failures = cli->cache_failures;
	o->cache_ttl_ms = cli->refresh ? 0 : ttl;
	sf_cache_sweep(o->cachefd);
	if (!cli->refresh && (f = sf_flight_cached(o->cachefd, &o->key,
	    ttl + (window > 0 ? window : 0), o->timeout_ms)) != NULL) {
		age = sf_flight_age(f);
		age_text(age, when, sizeof(when));
		if (age < ttl) {
			if (cli->verbose)
				msg("replayed a stored result (%s old)", when);
			return stream(f, STDOUT_FILENO, STDERR_FILENO, cli);
		}
		if (swr >= 0 && age < ttl + swr) {
			r = sf_flight_refresh(o, cause, sizeof(cause));
			if (r == -1)
				msg("cannot refresh the stale result: %s", cause);
			else if (cli->verbose)
				msg("replayed a stale result (%s old); %s", when, r == 1 ?
				    "refreshing it in the background" :
				    "a refresh is already running");
			return stream(f, STDOUT_FILENO, STDERR_FILENO, cli);
		}
		if (sie >= 0 && age < ttl + sie)
			stale = f;
		else
			sf_flight_close(f);
	}
	if ((status = attach(o, cli, &f)) != -1) {
		if (stale != NULL)
			sf_flight_close(stale);
		return status;
	}
	if (stale == NULL) {
		status = stream(f, STDOUT_FILENO, STDERR_FILENO, cli);
		if (cli->verbose && (status == 0 ||
		    (cli->cache_failures && status < EXIT_TIMEDOUT)))
			say_if_not_stored(o, begun);
		return status;
	}

	/* Stale if error: the flight's result only if it stored one. */
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
		msg("/dev/null: %s", strerror(errno));
		sf_flight_close(f);
		sf_flight_close(stale);
		return EXIT_FAILURE_;
	}
	status = stream(f, null, null, cli);
	close(null);
	if (status == EXIT_TIMEDOUT) {
		sf_flight_close(stale);
		return status;
	}
	/* What is left of -w bounds the replay too. */
	left = o->timeout_ms < 0 ? -1 : o->timeout_ms - (sf_clock_ms() - begun);
	if (o->timeout_ms >= 0 && left < 0)
		left = 0;
	fresh = sf_flight_cached(o->cachefd, &o->key, ttl, left);
	if (fresh != NULL && sf_flight_age(fresh) < age) {
		sf_flight_close(stale);
		return stream(fresh, STDOUT_FILENO, STDERR_FILENO, cli);
	}
	if (fresh != NULL)
		sf_flight_close(fresh);
	if (cli->verbose)
		msg("replayed the stale result (%s old): the new run stored nothing",
		    age_text(age, when, sizeof(when)));
	return stream(stale, STDOUT_FILENO, STDERR_FILENO, cli);
}

/* ---- --list, --forget, --cancel ------------------------------------------------ */

/*
 * Redis knows a key by its file name only (fleet.h): a fleet row
 * rows[local .. n) takes the key of this host's row of the same name, if
 * there is one.
 */
static void
name_fleet_rows(struct sf_control_row *rows, size_t local, size_t n)
{
	size_t i, j;

	for (i = local; i < n; i++)
		for (j = 0; j < local && rows[i].key == NULL; j++)
			if (strcmp(rows[i].id, rows[j].id) == 0 &&
			    (rows[j].key != NULL || rows[j].derived)) {
				rows[i].derived = rows[j].derived;
				if (rows[j].key != NULL &&
				    (rows[i].key = malloc(rows[j].keylen)) != NULL) {
					memcpy(rows[i].key, rows[j].key, rows[j].keylen);
					rows[i].keylen = rows[j].keylen;
				}
			}
}

static int
list(const struct sf_opts *o, const struct sf_cli *cli)
{
	struct sf_control_row *rows;
	char cause[512];
	size_t n, local;
	int cachefd, r;

	if ((cachefd = open_cache(cli, o)) == -1)
		return EXIT_FAILURE_;
	r = sf_control_list(o->dirfd, o->dir, cachefd, LIST_TIMEOUT_MS, &rows, &n,
	    cause, sizeof(cause));
	close(cachefd);
	if (r == -1) {
		msg("cannot list: %s", cause);
		return EXIT_FAILURE_;
	}
	/* With --redis, the fleet's rows after this host's. */
	if (o->fleet != NULL) {
		local = n;
		if (sf_fleet_list(o->fleet, sf_cache_now(), &rows, &n, cause,
		    sizeof(cause)) == -1) {
			msg("cannot list: %s", cause);
			sf_control_free(rows, n);
			return EXIT_FAILURE_;
		}
		name_fleet_rows(rows, local, n);
	}
	r = cli->json ? list_json(stdout, rows, n, sf_cache_now()) :
	    list_table(stdout, rows, n, sf_cache_now());
	sf_control_free(rows, n);
	if (r == -1 || fflush(stdout) == EOF) {
		msg("write error: %s", strerror(errno));
		return EXIT_FAILURE_;
	}
	return 0;
}

/* --forget and --cancel: 0 done, 1 nothing to do, 125 failed. */
static int
steer(const struct sf_opts *o, const struct sf_cli *cli)
{
	const char *verb = cli->mode == SF_MODE_FORGET ? "forget" : "cancel";
	char cause[512];
	int cachefd, r, f;

	if (cli->mode == SF_MODE_FORGET) {
		if ((cachefd = open_cache(cli, o)) == -1)
			return EXIT_FAILURE_;
		r = sf_control_forget(o->dirfd, o->dir, cachefd, &o->key,
		    CONTROL_TIMEOUT_MS, cause, sizeof(cause));
		close(cachefd);
	} else
		r = sf_control_cancel(o->dirfd, o->dir, &o->key, cli->grace_ms,
		    CONTROL_TIMEOUT_MS, cause, sizeof(cause));
	/* With --redis, the fleet's part too: done if either was. */
	if (r != -1 && o->fleet != NULL &&
	    (f = sf_fleet_steer(o->fleet, o->key.name, cli->mode ==
	    SF_MODE_FORGET ? SF_MSG_FORGET : SF_MSG_CANCEL, cli->grace_ms,
	    cause, sizeof(cause))) != 0)
		r = f;
	if (r == -1) {
		msg("cannot %s: %s", verb, cause);
		return EXIT_FAILURE_;
	}
	if (cli->verbose && r == 1)
		msg("%s", cli->mode == SF_MODE_FORGET ? "forgotten" : "cancelled");
	else if (cli->verbose)
		msg("nothing to %s", verb);
	return r == 1 ? 0 : 1;
}

/* ---- fleet mode (--redis) ---------------------------------------------------------- */

/*
 * --redis and its companions, SFEXEC_REDIS and SFEXEC_REDIS_PASSWORD, into
 * c (c->url NULL: this host only).  -1 after a message: a companion
 * without a URL, or a URL that cannot be used.
 */
static int
fleet_conf(const struct sf_cli *cli, struct sf_fleet_conf *c)
{
	const char *url = cli->redis, *pw;
	char cause[512];

	memset(c, 0, sizeof(*c));
	if (url == NULL && (url = getenv("SFEXEC_REDIS")) != NULL && *url == '\0')
		url = NULL;
	if (url == NULL) {
		if (cli->redis_prefix != NULL || cli->lease_ms >= 0 ||
		    cli->redis_optional || cli->redis_max_bytes >= 0) {
			msg("--redis-prefix, --lease, --redis-optional and "
			    "--redis-max-bytes need --redis (or SFEXEC_REDIS); "
			    "try 'sfexec --help'");
			return -1;
		}
		return 0;
	}
	c->url = url;
	pw = getenv("SFEXEC_REDIS_PASSWORD");
	c->password = pw != NULL && *pw != '\0' ? pw : NULL;
	c->prefix = cli->redis_prefix != NULL ? cli->redis_prefix : SF_FLEET_PREFIX;
	c->lease_ms = cli->lease_ms >= 0 ? cli->lease_ms : SF_FLEET_LEASE_MS;
	c->max_bytes = cli->redis_max_bytes >= 0 ? cli->redis_max_bytes :
	    SF_FLEET_MAX_BYTES;
	c->optional = cli->redis_optional != 0;
	c->no_wait = cli->no_wait != 0;
	/* --refresh reads no stored result, here or in Redis. */
	c->ttl_ms = cli->ttl_ms > 0 && !cli->refresh ? cli->ttl_ms : 0;
	if (sf_fleet_check(c, cause, sizeof(cause)) == -1) {
		msg("%s", cause);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	char dirbuf[PATH_MAX], cause[512], cwd[PATH_MAX];
	const char *dir;
	int status;
	struct sf_cli cli;
	struct sf_opts o;
	struct sf_fleet_conf fleet;
	sf_flight *f;

	sanitize_stdio();
	if (sf_cli_parse(argc, argv, &cli, cause, sizeof(cause)) == -1) {
		msg("%s; try 'sfexec --help'", cause);
		return EXIT_FAILURE_;
	}
	if (cli.help) {
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : EXIT_FAILURE_;
	}
	if (cli.version) {
		printf("sfexec %s\n", SF_VERSION);
		return fflush(stdout) == 0 ? 0 : EXIT_FAILURE_;
	}
	quiet = cli.quiet;
	memset(&o, 0, sizeof(o));
	if (fleet_conf(&cli, &fleet) == -1) {
		sf_cli_free(&cli);
		return EXIT_FAILURE_;
	}
	if (fleet.url != NULL)
		o.fleet = &fleet;
	o.argv = cli.argv;
	o.no_wait = cli.no_wait;
	o.grace_ms = cli.grace_ms;
	o.timeout_ms = cli.timeout_ms;
	if (cli.key != NULL) {
		sf_key_from_bytes(&o.key, cli.key, strlen(cli.key));
		o.key_text = cli.key;
		o.key_len = strlen(cli.key);
	} else if (cli.mode == SF_MODE_LIST)
		;       /* no key */
	else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		msg("cannot derive a key: current directory: %s", strerror(errno));
		sf_cli_free(&cli);
		return EXIT_FAILURE_;
	} else
		sf_key_from_argv(&o.key, o.argv, cwd);
	/* Past the key nothing needs the --key-env and --key-file names:
	 * free them here, before any of main's many returns. */
	status = sf_key_mix(&o.key, cli.key_env, cli.nkey_env, cli.key_file,
	    cli.nkey_file, cause, sizeof(cause));
	sf_cli_free(&cli);
	if (status == -1) {
		msg("%s", cause);
		return EXIT_FAILURE_;
	}

	dir = cli.dir != NULL ? cli.dir : getenv("SFEXEC_DIR");
	if (dir == NULL || *dir == '\0') {
		if (sf_rundir_default(dirbuf, sizeof(dirbuf)) == -1) {
			msg("runtime directory: %s", strerror(errno));
			return EXIT_FAILURE_;
		}
		dir = dirbuf;
	}
	o.dir = dir;
	if ((o.dirfd = sf_rundir_open(dir, cause, sizeof(cause))) == -1) {
		msg("%s", cause);
		return EXIT_FAILURE_;
	}

	if (cli.mode == SF_MODE_LIST)
		return list(&o, &cli);
	if (cli.mode != SF_MODE_RUN)
		return steer(&o, &cli);
	if (o.timeout_ms >= 0 && arm_deadline(o.timeout_ms) == -1) {
		msg("cannot arm the wait timeout: %s", strerror(errno));
		return EXIT_FAILURE_;
	}
	if (cli.ttl_ms > 0)
		return cached(&o, &cli);
	if ((status = attach(&o, &cli, &f)) != -1)
		return status;
	return stream(f, STDOUT_FILENO, STDERR_FILENO, &cli);
}
