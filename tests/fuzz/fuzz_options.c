/*
 * fuzz_options.c — the command line and the key.
 *
 * The bytes are split at NULs into argv; sf_cli_parse must accept or refuse
 * with a message, never crash; an accepted command line must give a key
 * (but for --list, which takes neither a key nor a command).
 * The first word alone is also parsed as a duration, which must stay in
 * 0 .. 365 days when accepted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[66], err[256];
	struct sf_cli c;
	struct sf_key k;
	size_t i;
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
	free(buf);
	return 0;
}
