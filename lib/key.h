/*
 * key.h — a flight key to a safe file name.
 *
 * Keys are arbitrary bytes chosen by users; they never become paths.  The
 * key is hashed with SHA-256 and the runtime files are named after the first
 * 128 bits in hex.  A key given with --key is hashed with the prefix byte 'k';
 * a key derived from the command line uses 'a', so no --key value can name
 * the same flight as a derived key.
 */
#ifndef SF_KEY_H
#define SF_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SF_KEY_MAX      4096
#define SF_KEY_NAME_LEN 32      /* hex digits in a file name */

struct sf_key {
	uint8_t digest[SF_DIGEST_LEN];
	char name[SF_KEY_NAME_LEN + 1];  /* NUL-terminated hex */
};

/* sf_sha256 — the SHA-256 of n bytes at p into out. */
void sf_sha256(const void *p, size_t n, uint8_t out[SF_DIGEST_LEN]);

/* sf_key_from_bytes — key from --key.  -1/EINVAL unless 1 <= n <= SF_KEY_MAX. */
int sf_key_from_bytes(struct sf_key *k, const void *p, size_t n);

/*
 * sf_key_from_argv — key derived from the exact argv and cwd: every argument
 * and the directory are length-prefixed, so ("a b") and ("a", "b") differ.
 * -1/EINVAL for an empty argv.
 */
int sf_key_from_argv(struct sf_key *k, char *const argv[], const char *cwd);

#endif
