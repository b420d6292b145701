/* options.c — the sfexec command line; see options.h. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "options.h"

/* The milliseconds in one unit u (a duration's suffix); 0 if u is none. */
static long
unit_ms(const char *u)
{
	if (u[0] != '\0' && u[1] != '\0')
		return 0;
	switch (u[0]) {
	case '\0':
	case 's': return 1000L;
	case 'm': return 60 * 1000L;
	case 'h': return 60 * 60 * 1000L;
	case 'd': return 24 * 60 * 60 * 1000L;
	}
	return 0;
}

static int
isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* Digit k of a number whose ni integer digits are at ip, the rest at fp. */
static int
digit(const char *ip, long ni, const char *fp, long k)
{
	return (k < ni ? ip[k] : fp[k - ni]) - '0';
}

/*
 * The number is the digits d[0] .. d[n-1] (integer part, then fraction)
 * with the decimal point before d[point]; point may lie outside 0 .. n
 * once the exponent has moved it.  Its whole units and the rounded-up
 * milliseconds of its fraction are counted apart, in integers, so that
 * "4.03" is 4030 ms (4.03 * 1000 in doubles is 4030.0000000000005).
 */
int
sf_parse_duration(const char *s, long *ms)
{
	const long long max = SF_DURATION_MAX_S * 1000LL;
	const char *ip, *fp, *p = s;
	long long whole = 0, carry = 0, total;
	long ni, nf, n, k, point, e = 0, u;
	int eneg = 0, nonzero = 0, inexact = 0;

	for (ip = p; isdig(*p); p++)
		nonzero |= *p != '0';
	ni = p - ip;
	fp = p;
	if (*p == '.')
		for (fp = ++p; isdig(*p); p++)
			nonzero |= *p != '0';
	nf = p - fp;
	if (ni + nf == 0)
		goto invalid;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		if (!isdig(*p))
			goto invalid;
		for (; isdig(*p); p++)
			if (e < 1000000)       /* far past any sensible value */
				e = e * 10 + (*p - '0');
	}
	if ((u = unit_ms(p)) == 0)
		goto invalid;
	if (!nonzero) {
		*ms = 0;
		return 0;
	}
	n = ni + nf;
	point = ni + (eneg ? -e : e);
	/* Whole units.  A nonzero digit comes within n steps, and then a
	 * dozen more pass max: the loop is short whatever the exponent. */
	for (k = 0; k < point; k++) {
		whole = whole * 10 + (k < n ? digit(ip, ni, fp, k) : 0);
		if (whole > max / u)
			goto range;
	}
	/* The fraction times u, rounded up: long multiplication from the
	 * last digit, then one division by 10 per zero after the point.  Past
	 * 9 such zeros the product is above 0 and below 1 (u < 10^8): 1 ms. */
	if (point < -9) {
		inexact = 1;
	} else {
		for (k = n - 1; k >= (point > 0 ? point : 0); k--) {
			carry += digit(ip, ni, fp, k) * u;
			inexact |= carry % 10 != 0;
			carry /= 10;
		}
		for (k = point; k < 0; k++) {
			inexact |= carry % 10 != 0;
			carry /= 10;
		}
	}
	total = whole * u + carry + inexact;
	if (total > max || total > LONG_MAX)
		goto range;
	*ms = (long)total;
	return 0;
invalid:
	errno = EINVAL;
	return -1;
range:
	errno = ERANGE;
	return -1;
}

const char *
sf_duration_unit(const char *s, int *numlen)
{
	static const char units[] = "smhd";
	static const char *const words[][2] = {
		{ "seconds", "second" }, { "minutes", "minute" },
		{ "hours", "hour" }, { "days", "day" },
	};
	size_t n = strlen(s);
	const char *u;
	int w = 0;

	if (n > 0 && (u = strchr(units, s[n - 1])) != NULL) {
		w = (int)(u - units);
		n--;
	}
	*numlen = n > INT_MAX ? INT_MAX : (int)n;
	return words[w][n == 1 && s[0] == '1'];
}

/*
 * duration: parse the argument of option what into *ms, or say why not.
 * It must be at least min_ms (1, that is not 0, or whole seconds) and at
 * most max_ms (whole days, SF_DURATION_MAX_S at most).
 */
static int
duration(const char *arg, long *ms, const char *what, long min_ms,
    long long max_ms, char *err, size_t errlen)
{
	const long long day = 24 * 60 * 60 * 1000LL;
	long v;
	int rc;

	if ((rc = sf_parse_duration(arg, &v)) == -1 && errno == EINVAL) {
		snprintf(err, errlen, "invalid %s '%s'", what, arg);
		return -1;
	}
	if (rc == -1 || v > max_ms) {
		snprintf(err, errlen, "invalid %s '%s': more than %lld day%s", what,
		    arg, max_ms / day, max_ms == day ? "" : "s");
		return -1;
	}
	if (v < min_ms) {
		/* Any other duration rounds up to 1 ms: a least of 1 ms only
		 * refuses 0, and says so. */
		if (min_ms == 1)
			snprintf(err, errlen, "invalid %s '%s': must be more than 0",
			    what, arg);
		else
			snprintf(err, errlen, "invalid %s '%s': must be at least %ld second%s",
			    what, arg, min_ms / 1000, min_ms == 1000 ? "" : "s");
		return -1;
	}
	*ms = v;
	return 0;
}

int
sf_parse_size(const char *s, long long *bytes)
{
	static const char units[] = "KMGTkmgt";
	const char *p, *q, *u;
	long long n = 0;
	int shift = 0;

	for (p = s; isdig(*p); p++)
		;
	if (p == s)
		goto invalid;
	q = p;
	if (*p != '\0' && (u = strchr(units, *p)) != NULL) {
		shift = 10 * (1 + (int)(u - units) % 4);
		if (strcmp(++p, "iB") == 0)
			p += 2;
	}
	/* Not "b": that is bits as often as bytes. */
	if (strcmp(p, "B") == 0)
		p++;
	if (*p != '\0')
		goto invalid;
	/* Each step stays below 10 * SF_SIZE_MAX: no overflow, however many
	 * digits. */
	for (p = s; p < q; p++)
		if ((n = n * 10 + (*p - '0')) > SF_SIZE_MAX)
			goto range;
	if (n > SF_SIZE_MAX >> shift)
		goto range;
	*bytes = n << shift;
	return 0;
invalid:
	errno = EINVAL;
	return -1;
range:
	errno = ERANGE;
	return -1;
}

/*
 * A Redis key prefix: printable ASCII but for a space (keys one can type
 * in redis-cli) and the braces, which would open or close the hash tag
 * that keeps a flight's keys in one Redis Cluster slot.
 */
static int
redis_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > SF_REDIS_PREFIX_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    *s == '{' || *s == '}')
			return 0;
	return 1;
}

/* The long options that have no short form. */
enum {
	OPT_TTL = 256, OPT_SWR, OPT_SIE, OPT_CACHE_FAILURES, OPT_REFRESH,
	OPT_CACHE_DIR, OPT_KEY_ENV, OPT_KEY_FILE, OPT_LIST, OPT_JSON,
	OPT_FORGET, OPT_CANCEL, OPT_REDIS, OPT_REDIS_PREFIX, OPT_LEASE,
	OPT_REDIS_OPTIONAL, OPT_REDIS_MAX_BYTES,
};

static const char *const mode_names[] = {
	[SF_MODE_LIST] = "--list", [SF_MODE_FORGET] = "--forget",
	[SF_MODE_CANCEL] = "--cancel",
};

/*
 * The option named by ch (getopt_long's value) as the user wrote it, for
 * "cannot be used with" messages.
 */
static const char *
opt_name(const struct option *longopts, int ch)
{
	for (; longopts->name != NULL; longopts++)
		if (longopts->val == ch)
			return longopts->name;
	return "?";
}

/*
 * Which modes (bits 1 << SF_MODE_*) an option belongs to: the ones that
 * only shape a run are refused with --list, --forget and --cancel rather
 * than silently ignored.
 */
static unsigned
modes_of(int ch)
{
	const unsigned run = 1U << SF_MODE_RUN, list = 1U << SF_MODE_LIST,
	    forget = 1U << SF_MODE_FORGET, cancel = 1U << SF_MODE_CANCEL;

	switch (ch) {
	case 'd': case 'v': case 'q':
		return run | list | forget | cancel;
	case 'k': case OPT_KEY_ENV: case OPT_KEY_FILE:
		return run | forget | cancel;
	case OPT_CACHE_DIR:
		return run | list | forget;
	case 'g':
		return run | cancel;
	case OPT_JSON:
		return list;
	case OPT_REDIS: case OPT_REDIS_PREFIX:
		/* --list, --forget and --cancel reach the fleet (fleet.h) */
		return run | list | forget | cancel;
	}
	return run;
}

/*
 * An environment variable's name as sh(1) takes one: [A-Za-z_][A-Za-z0-9_]*.
 * ASCII by hand: what a name is must not depend on the locale.
 */
static int
env_name(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= 'a' && *p <= 'z') || (p > s && isdig(*p))))
			return 0;
	return p > s;
}

/*
 * append: add word to the --key-env (file 0) or --key-file (file 1) list.
 * Both live in one block of 2 * argc pointers, made at the first of them:
 * every word after argv[0] adds at most one item, so neither list can
 * outgrow its half.
 */
static int
append(struct sf_cli *c, int argc, int file, char *word)
{
	char ***v = file ? &c->key_file : &c->key_env;
	size_t *n = file ? &c->nkey_file : &c->nkey_env;

	if (c->key_env == NULL) {
		if ((c->key_env = calloc(2 * (size_t)argc, sizeof(char *))) == NULL)
			return -1;
		c->key_file = c->key_env + argc;
	}
	if (*n >= (size_t)argc) {
		errno = E2BIG;
		return -1;
	}
	(*v)[(*n)++] = word;
	return 0;
}

int
sf_cli_parse(int argc, char **argv, struct sf_cli *c, char *err, size_t errlen)
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
		{ "ttl",          required_argument, NULL, OPT_TTL },
		{ "stale-while-revalidate", required_argument, NULL, OPT_SWR },
		{ "stale-if-error", required_argument, NULL, OPT_SIE },
		{ "cache-failures", no_argument,     NULL, OPT_CACHE_FAILURES },
		{ "refresh",      no_argument,       NULL, OPT_REFRESH },
		{ "cache-dir",    required_argument, NULL, OPT_CACHE_DIR },
		{ "key-env",      required_argument, NULL, OPT_KEY_ENV },
		{ "key-file",     required_argument, NULL, OPT_KEY_FILE },
		{ "list",         no_argument,       NULL, OPT_LIST },
		{ "json",         no_argument,       NULL, OPT_JSON },
		{ "forget",       no_argument,       NULL, OPT_FORGET },
		{ "cancel",       no_argument,       NULL, OPT_CANCEL },
		{ "redis",        required_argument, NULL, OPT_REDIS },
		{ "redis-prefix", required_argument, NULL, OPT_REDIS_PREFIX },
		{ "lease",        required_argument, NULL, OPT_LEASE },
		{ "redis-optional", no_argument,     NULL, OPT_REDIS_OPTIONAL },
		{ "redis-max-bytes", required_argument, NULL, OPT_REDIS_MAX_BYTES },
		{ NULL, 0, NULL, 0 },
	};
	const long long dmax = SF_DURATION_MAX_S * 1000LL;
	const char *needs, *p;
	int excluded_by[4] = { 0 };     /* by mode: the first option it refuses */
	int ch, m;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = -1;
	c->grace_ms = 5000;
	c->ttl_ms = c->swr_ms = c->sie_ms = -1;
	c->lease_ms = -1;
	c->redis_max_bytes = -1;
	opterr = 0;
	optind = 0;     /* glibc: start afresh */
	while ((ch = getopt_long(argc, argv, "+:k:d:nw:vqhV", longopts, NULL)) != -1) {
		if (ch != OPT_LIST && ch != OPT_FORGET && ch != OPT_CANCEL &&
		    ch != 'h' && ch != 'V' && ch != ':' && ch != '?')
			for (m = 0; m < 4; m++)
				if (!(modes_of(ch) & (1U << m)) && excluded_by[m] == 0)
					excluded_by[m] = ch;
		switch (ch) {
		case OPT_LIST:
		case OPT_FORGET:
		case OPT_CANCEL:
			if (c->mode != SF_MODE_RUN) {
				snprintf(err, errlen, "%s cannot be used with %s",
				    argv[optind - 1], mode_names[c->mode]);
				goto fail;
			}
			c->mode = ch == OPT_LIST ? SF_MODE_LIST :
			    ch == OPT_FORGET ? SF_MODE_FORGET : SF_MODE_CANCEL;
			break;
		case OPT_JSON: c->json = 1; break;
		case 'k':
			c->key = optarg;
			if (strlen(optarg) < 1 || strlen(optarg) > SF_KEY_MAX) {
				snprintf(err, errlen, "key must be 1 to %d bytes", SF_KEY_MAX);
				goto fail;
			}
			break;
		case 'd': c->dir = optarg; break;
		case 'n': c->no_wait = 1; break;
		case 'w':
			c->timeout_arg = optarg;
			if (duration(optarg, &c->timeout_ms, "wait timeout", 0, dmax,
			    err, errlen) == -1)
				goto fail;
			break;
		case 'g':
			if (duration(optarg, &c->grace_ms, "grace period", 0, dmax,
			    err, errlen) == -1)
				goto fail;
			break;
		case OPT_TTL:
			/* A result nobody may read is not worth storing: not 0. */
			if (duration(optarg, &c->ttl_ms, "TTL", 1, dmax,
			    err, errlen) == -1)
				goto fail;
			break;
		case OPT_SWR:
			if (duration(optarg, &c->swr_ms, "stale-while-revalidate window",
			    0, dmax, err, errlen) == -1)
				goto fail;
			break;
		case OPT_SIE:
			if (duration(optarg, &c->sie_ms, "stale-if-error window",
			    0, dmax, err, errlen) == -1)
				goto fail;
			break;
		case OPT_CACHE_FAILURES: c->cache_failures = 1; break;
		case OPT_REFRESH: c->refresh = 1; break;
		case OPT_CACHE_DIR:
			if (*optarg == '\0') {
				snprintf(err, errlen, "--cache-dir path must not be empty");
				goto fail;
			}
			c->cache_dir = optarg;
			break;
		case OPT_KEY_ENV:
		case OPT_KEY_FILE:
			if (ch == OPT_KEY_ENV && !env_name(optarg)) {
				snprintf(err, errlen, "invalid --key-env name '%s'", optarg);
				goto fail;
			}
			if (ch == OPT_KEY_FILE && *optarg == '\0') {
				snprintf(err, errlen, "--key-file path must not be empty");
				goto fail;
			}
			if (append(c, argc, ch == OPT_KEY_FILE, optarg) == -1) {
				snprintf(err, errlen, "%s: %s", ch == OPT_KEY_ENV ?
				    "--key-env" : "--key-file", strerror(errno));
				goto fail;
			}
			break;
		case OPT_REDIS:
			/* Not echoed: it may hold a password (redis.c refuses one,
			 * later) or the control characters refused here. */
			if (*optarg == '\0') {
				snprintf(err, errlen, "--redis URL must not be empty");
				goto fail;
			}
			for (p = optarg; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f) {
					snprintf(err, errlen, "--redis URL must not hold "
					    "control characters");
					goto fail;
				}
			c->redis = optarg;
			break;
		case OPT_REDIS_PREFIX:
			if (!redis_prefix(optarg)) {
				snprintf(err, errlen, "--redis-prefix must be 1 to %d bytes "
				    "of printable ASCII, without spaces, '{' or '}'",
				    SF_REDIS_PREFIX_MAX);
				goto fail;
			}
			c->redis_prefix = optarg;
			break;
		case OPT_LEASE:
			if (duration(optarg, &c->lease_ms, "lease", SF_LEASE_MIN_MS,
			    SF_LEASE_MAX_MS, err, errlen) == -1)
				goto fail;
			break;
		case OPT_REDIS_OPTIONAL: c->redis_optional = 1; break;
		case OPT_REDIS_MAX_BYTES:
			if (sf_parse_size(optarg, &c->redis_max_bytes) == -1) {
				if (errno == ERANGE)
					snprintf(err, errlen, "invalid --redis-max-bytes '%s': "
					    "more than %lld PiB", optarg, SF_SIZE_MAX >> 50);
				else
					snprintf(err, errlen, "invalid --redis-max-bytes '%s'",
					    optarg);
				goto fail;
			}
			break;
		case 'v': c->verbose = 1; break;
		case 'q': c->quiet = 1; break;
		case 'h': c->help = 1; sf_cli_free(c); return 0;
		case 'V': c->version = 1; sf_cli_free(c); return 0;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			goto fail;
		default:
			if (optopt != 0)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unrecognized option '%s'", argv[optind - 1]);
			goto fail;
		}
	}
	if ((ch = excluded_by[c->mode]) != 0) {
		if (c->mode == SF_MODE_RUN)     /* only --json is not a run's */
			snprintf(err, errlen, "--%s needs --list", opt_name(longopts, ch));
		else
			snprintf(err, errlen, "--%s cannot be used with %s",
			    opt_name(longopts, ch), mode_names[c->mode]);
		goto fail;
	}
	if (c->mode == SF_MODE_LIST) {
		if (optind < argc) {
			snprintf(err, errlen, "--list takes no command");
			goto fail;
		}
		return 0;
	}
	if (c->mode != SF_MODE_RUN && c->key != NULL && optind >= argc)
		return 0;       /* -k names the key: no command needed */
	/* Whatever their order on the line: the windows and the rest only
	 * say how to use a cache, and --ttl is what asks for one. */
	if (c->ttl_ms < 0) {
		needs = c->swr_ms >= 0 ? "--stale-while-revalidate" :
		    c->sie_ms >= 0 ? "--stale-if-error" :
		    c->cache_failures ? "--cache-failures" :
		    c->refresh ? "--refresh" : NULL;
		if (needs != NULL) {
			snprintf(err, errlen, "%s needs --ttl", needs);
			goto fail;
		}
	}
	if (optind >= argc) {
		snprintf(err, errlen, c->mode == SF_MODE_RUN ? "missing command" :
		    "%s needs -k KEY or a command", mode_names[c->mode]);
		goto fail;
	}
	c->argv = argv + optind;
	return 0;
fail:
	sf_cli_free(c);
	return -1;
}

void
sf_cli_free(struct sf_cli *c)
{
	free(c->key_env);       /* the block of both lists */
	c->key_env = c->key_file = NULL;
	c->nkey_env = c->nkey_file = 0;
}
