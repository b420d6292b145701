/*
 * fuzz_options.c — the command line and the key.
 *
 * The bytes are split at NULs into argv; sf_cli_parse must accept or refuse
 * with a message, never crash; an accepted command line must give a key
 * (but for --list, which takes neither a key nor a command).
 * The first word alone is also parsed as a duration, which must stay in
 * 0 .. 365 days when accepted, and as a size, which must stay in
 * 0 .. SF_SIZE_MAX.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fleet's options: what options.c lets through; --redis and
 * --redis-prefix for a run, --forget and --cancel, the others for a run. */
static int
fleet_ok(const struct sf_cli *c)
{
	const unsigned char *p;

	if (c->mode != SF_MODE_RUN && (c->lease_ms != -1 || c->redis_optional ||
	    c->redis_max_bytes != -1))
		return 0;
	if (c->redis != NULL) {
		if (c->redis[0] == '\0')
			return 0;
		for (p = (const unsigned char *)c->redis; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				return 0;
	}
	if (c->redis_prefix != NULL) {
		if (c->redis_prefix[0] == '\0' ||
		    strlen(c->redis_prefix) > SF_REDIS_PREFIX_MAX)
			return 0;
		for (p = (const unsigned char *)c->redis_prefix; *p != '\0'; p++)
			if (*p <= ' ' || *p >= 0x7f || *p == '{' || *p == '}')
				return 0;
	}
	return (c->lease_ms == -1 || (c->lease_ms >= SF_LEASE_MIN_MS &&
	    c->lease_ms <= SF_LEASE_MAX_MS)) &&
	    c->redis_max_bytes >= -1 && c->redis_max_bytes <= SF_SIZE_MAX;
}

/*
 * An accepted size read a second way, with strtoll and the suffix's first
 * letter; -1 if that letter is not a multiple the parser should take.
 */
static long long
size_again(const char *s)
{
	static const char units[] = "KMGTkmgt";
	const char *u;
	char *end;
	long long n = strtoll(s, &end, 10);

	if (*end == '\0' || strcmp(end, "B") == 0)
		return n;
	if ((u = strchr(units, *end)) == NULL)
		return -1;
	return n << (10 * (1 + (u - units) % 4));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[66], err[256];
	struct sf_cli c;
	struct sf_key k;
	size_t i;
	long long bytes;
	long ms;
	int argc = 1, numlen;

	if (size > 8192)
		return 0;
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "sfexec";
	argv[argc++] = buf;
	for (i = 0; i < size && argc < 65; i++)
		if (buf[i] == '\0')
			argv[argc++] = buf + i + 1;
	argv[argc] = NULL;
	err[0] = '\0';
	if (sf_cli_parse(argc, argv, &c, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
	} else if (!c.help && !c.version) {
		/* A command, but for --list (never one) and for --forget and
		 * --cancel that name the key with -k; --json only with --list. */
		if (c.mode == SF_MODE_LIST ? c.argv != NULL || c.key != NULL ||
		    c.nkey_env != 0 || c.nkey_file != 0 :
		    (c.argv == NULL || c.argv[0] == NULL) &&
		    (c.mode == SF_MODE_RUN || c.key == NULL))
			abort();
		if (c.json && c.mode != SF_MODE_LIST)
			abort();
		if (c.key != NULL && sf_key_from_bytes(&k, c.key, strlen(c.key)) == -1)
			abort();
		if (c.argv != NULL && sf_key_from_argv(&k, c.argv, "/") == -1)
			abort();
		if (c.timeout_ms < -1 || c.grace_ms < 0 ||
		    c.timeout_ms > SF_DURATION_MAX_S * 1000 ||
		    c.grace_ms > SF_DURATION_MAX_S * 1000)
			abort();
		if ((c.swr_ms != -1 || c.sie_ms != -1 || c.cache_failures ||
		    c.refresh) && c.ttl_ms <= 0)
			abort();        /* they need --ttl */
		if (!fleet_ok(&c))
			abort();
		sf_cli_free(&c);
	}
	if (sf_parse_duration(buf, &ms) == 0) {
		if (ms < 0 || ms > SF_DURATION_MAX_S * 1000)
			abort();
		sf_duration_unit(buf, &numlen);
		if (numlen < 1 || (size_t)numlen > strlen(buf))
			abort();
	} else if (errno != EINVAL && errno != ERANGE)
		abort();
	bytes = -2;
	if (sf_parse_size(buf, &bytes) == 0) {
		if (bytes < 0 || bytes > SF_SIZE_MAX || size_again(buf) != bytes)
			abort();
	} else if ((errno != EINVAL && errno != ERANGE) || bytes != -2)
		abort();
	free(buf);
	return 0;
}
