/* options.c — the sfexec command line; see options.h. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "options.h"

long
sf_parse_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* v != v: NaN; the upper bound also refuses infinity. */
	if (*s == '\0' || *end != '\0' || errno != 0 || v != v || v < 0 ||
	    v > (double)(LONG_MAX / 1000) || strpbrk(s, "xX") != NULL)
		return -1;
	v *= 1000;
	return (long)v + ((double)(long)v < v);   /* rounded up */
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
			if ((c->timeout_ms = sf_parse_seconds(optarg)) == -1) {
				snprintf(err, errlen, "invalid wait timeout '%s'", optarg);
				return -1;
			}
			break;
		case 'g':
			if ((c->grace_ms = sf_parse_seconds(optarg)) == -1) {
				snprintf(err, errlen, "invalid grace period '%s'", optarg);
				return -1;
			}
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
