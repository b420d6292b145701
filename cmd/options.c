/* options.c — the sfexec command line; see options.h. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
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

/* duration: parse the argument of option what into *ms, or say why not. */
static int
duration(const char *arg, long *ms, const char *what, char *err, size_t errlen)
{
	if (sf_parse_duration(arg, ms) == 0)
		return 0;
	if (errno == ERANGE)
		snprintf(err, errlen, "invalid %s '%s': more than %ld days", what, arg,
		    SF_DURATION_MAX_S / (24 * 60 * 60));
	else
		snprintf(err, errlen, "invalid %s '%s'", what, arg);
	return -1;
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
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = -1;
	c->grace_ms = 5000;
	opterr = 0;
	optind = 0;     /* glibc: start afresh */
	while ((ch = getopt_long(argc, argv, "+:k:d:nw:vqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			c->key = optarg;
			if (strlen(optarg) < 1 || strlen(optarg) > SF_KEY_MAX) {
				snprintf(err, errlen, "key must be 1 to %d bytes", SF_KEY_MAX);
				return -1;
			}
			break;
		case 'd': c->dir = optarg; break;
		case 'n': c->no_wait = 1; break;
		case 'w':
			c->timeout_arg = optarg;
			if (duration(optarg, &c->timeout_ms, "wait timeout",
			    err, errlen) == -1)
				return -1;
			break;
		case 'g':
			if (duration(optarg, &c->grace_ms, "grace period",
			    err, errlen) == -1)
				return -1;
			break;
		case 'v': c->verbose = 1; break;
		case 'q': c->quiet = 1; break;
		case 'h': c->help = 1; return 0;
		case 'V': c->version = 1; return 0;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return -1;
		default:
			if (optopt != 0)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unrecognized option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		snprintf(err, errlen, "missing command");
		return -1;
	}
	c->argv = argv + optind;
	return 0;
}
