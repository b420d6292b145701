/*
 * key.h — a flight key to a safe file name.
 *
 * Keys are arbitrary bytes chosen by users; they never become paths.  The
 * key is hashed with SHA-256 and the runtime files are named after the first
 * 128 bits in hex.  A key given with --key is hashed with the prefix byte 'k';
 * a key derived from the command line uses 'a', so no --key value can name
 * the same flight as a derived key.  Inputs mixed in afterwards (--key-env,
 * --key-file) hash the key again with the prefix 'm': see sf_key_mix.
 */
#ifndef SF_KEY_H
#define SF_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SF_KEY_MAX      SF_PROTO_MAX_KEY
#define SF_KEY_NAME_LEN 32      /* hex digits in a file name */

struct sf_key {
	uint8_t digest[SF_DIGEST_LEN];
	char name[SF_KEY_NAME_LEN + 1];  /* NUL-terminated hex */
};

/* sf_key_is_hex — p[0 .. n) are lower-case hexadecimal digits, as in the
 * runtime files' names. */
int sf_key_is_hex(const char *p, size_t n);

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

/*
 * sf_key_mix — mix the values of the environment variables env[0 .. nenv)
 * and the identities of the files files[0 .. nfiles) into k, so that a
 * flight (and a stored result) is another one once an input changed.
 *
 * A variable's value is read with getenv(3); unset is a value of its own,
 * unlike every string, the empty one included.  A file's identity is what
 * stat(2) says of it, following symbolic links as make(1) does for a
 * prerequisite: st_dev, st_ino, st_size, st_mtim to the nanosecond.  A
 * file that does not exist (ENOENT, ENOTDIR) is a value of its own too,
 * unlike every existing file.
 *
 * The inputs are a set: their order does not matter and a name given twice
 * counts once (it is read once).  They are sorted by kind, then name
 * (bytes, as strcmp), and the new digest is the SHA-256 of
 *
 *   'm'  old digest[32]  item ...
 *
 * where an item is 'e' or 'f', u64 length and the name's bytes, then for a
 * variable 0 (unset) or 1, u64 length and the value's bytes, and for a file
 * 0 (missing) or 1 and u64 st_dev, st_ino, st_size, st_mtim.tv_sec,
 * st_mtim.tv_nsec; all numbers big endian, two's complement.  The name is
 * made again from the new digest.  With no inputs k is left as it was, so
 * keys without --key-env or --key-file are those of before.
 *
 * Returns 0, or -1 with errno and a one-line message in err, and then k is
 * unchanged: stat failed otherwise than ENOENT or ENOTDIR ("cannot use
 * --key-file PATH: strerror"), ENOMEM, or EINVAL (a NULL list or name).
 * Reads the environment: not to be called while another thread may change
 * it.
 */
int sf_key_mix(struct sf_key *k, char *const env[], size_t nenv,
    char *const files[], size_t nfiles, char *err, size_t errlen);

#endif
