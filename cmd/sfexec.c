/*
 * sfexec — run a command once for every concurrent invocation with the same
 * key, and give each of them its output and exit status.
 *
 * This file is the command line only: options, usage, messages and the
 * mapping from a flight's outcome to an exit status.  The engine is lib/.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int quiet;

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: sfexec [-nqvV] [-k key] [-d dir] [-w seconds] [--grace seconds]\n"
"              [--] command [arg ...]\n"
"\n"
"Run COMMAND once for all concurrent invocations with the same key; each\n"
"invocation gets the command's stdout, stderr and exit status.\n"
"\n"
"  -k, --key KEY            flight key, 1 to 4096 bytes (default: derived\n"
"                           from the command line and working directory)\n"
"  -d, --dir DIR            runtime directory (default: $SFEXEC_DIR, else\n"
"                           $XDG_RUNTIME_DIR/sfexec, else /tmp/sfexec-$UID)\n"
"  -n, --no-wait            if a flight for the key is running, exit 75\n"
"  -w, --wait-timeout SECS  stop waiting after SECS seconds and exit 124\n"
"      --grace SECS         when every invocation has left, SIGTERM the\n"
"                           command, then SIGKILL after SECS (default 5)\n"
"  -v, --verbose            say whether this invocation started or joined\n"
"  -q, --quiet              no messages for -n and -w outcomes\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: the command's; 128+N if it died of signal N; 124 timed out;\n"
"125 sfexec failed; 126 command cannot run; 127 command not found;\n"
"75 busy (-n).\n");
}

static void __attribute__((format(printf, 1, 2)))
msg(const char *fmt, ...)
{
	va_list ap;

	fputs("sfexec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sfexec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; try 'sfexec --help'\n", stderr);
	exit(EXIT_FAILURE_);
}

/* Seconds as a decimal number >= 0, to milliseconds (rounded up). */
static long
parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* v != v: NaN; the bound also refuses infinity; no hex. */
	if (*s == '\0' || *end != '\0' || errno != 0 || v != v || v < 0 ||
	    v > (double)(LONG_MAX / 1000) || strpbrk(s, "xX") != NULL)
		usage_error("invalid %s '%s'", what, s);
	v *= 1000;
	return (long)v + ((double)(long)v < v);   /* rounded up */
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

static int
report(const struct sf_outcome *oc, pid_t runner, const char *timeout_arg)
{
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
	case SF_END_OWNER_DIED:
		msg("flight owner (pid %ld) died", (long)runner);
		return EXIT_FAILURE_;
	case SF_END_TIMEOUT:
		if (!quiet)
			msg("timed out after %s seconds; the flight goes on", timeout_arg);
		return EXIT_TIMEDOUT;
	}
	msg("unknown outcome %d from the flight", oc->how);
	return EXIT_FAILURE_;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "key",          required_argument, NULL, 'k' },
		{ "dir",          required_argument, NULL, 'd' },
		{ "no-wait",      no_argument,       NULL, 'n' },
		{ "wait-timeout", required_argument, NULL, 'w' },
		{ "grace",        required_argument, NULL, 'g' },
		{ "verbose",      no_argument,       NULL, 'v' },
		{ "quiet",        no_argument,       NULL, 'q' },
		{ "help",         no_argument,       NULL, 'h' },
		{ "version",      no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char dirbuf[PATH_MAX], cause[512], cwd[PATH_MAX];
	const char *key = NULL, *dir = NULL, *timeout_arg = NULL;
	long timeout_ms = -1;
	int verbose = 0, ch, status;
	struct sf_opts o;
	struct sf_outcome oc;
	sf_flight *f;

	sanitize_stdio();
	memset(&o, 0, sizeof(o));
	o.grace_ms = 5000;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:k:d:nw:vqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k': key = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': o.no_wait = 1; break;
		case 'w': timeout_arg = optarg;
			  timeout_ms = parse_seconds(optarg, "wait timeout"); break;
		case 'g': o.grace_ms = parse_seconds(optarg, "grace period"); break;
		case 'v': verbose = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sfexec %s\n", SF_VERSION); return 0;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("missing command");
	o.argv = argv + optind;

	if (key != NULL) {
		if (sf_key_from_bytes(&o.key, key, strlen(key)) == -1)
			usage_error("key must be 1 to %d bytes", SF_KEY_MAX);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			msg("cannot derive a key: current directory: %s", strerror(errno));
			return EXIT_FAILURE_;
		}
		sf_key_from_argv(&o.key, o.argv, cwd);
	}

	if (dir == NULL)
		dir = getenv("SFEXEC_DIR");
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

	if ((f = sf_flight_attach(&o, cause, sizeof(cause))) == NULL) {
		if (errno == EBUSY) {
			if (!quiet)
				msg("%s", cause);
			return EXIT_BUSY;
		}
		msg("%s", cause[0] ? cause : strerror(errno));
		return EXIT_FAILURE_;
	}
	if (verbose) {
		if (sf_flight_role(f) == SF_STARTED)
			msg("started flight (runner pid %ld)", (long)sf_flight_runner(f));
		else
			msg("joined flight (started by pid %ld)", (long)sf_flight_starter(f));
	}
	if (sf_flight_stream(f, STDOUT_FILENO, STDERR_FILENO, timeout_ms, &oc,
	    cause, sizeof(cause)) == -1) {
		msg("%s: %s", cause, strerror(errno));
		sf_flight_close(f);
		return EXIT_FAILURE_;
	}
	status = report(&oc, sf_flight_runner(f), timeout_arg);
	sf_flight_close(f);
	return status;
}
