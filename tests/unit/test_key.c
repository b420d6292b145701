/*
 * test_key.c — SHA-256 against FIPS 180-4 vectors; key names and domains;
 * mixing --key-env values and --key-file identities into a key.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "key.h"

static void
hex(const uint8_t *d, char *out)
{
	int i;
	for (i = 0; i < SF_DIGEST_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void
sha256_vectors(void **state)
{
	static char million[1000000];
	uint8_t d[SF_DIGEST_LEN];
	char h[65];
	(void)state;
	sf_sha256("", 0, d);
	hex(d, h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sf_sha256("abc", 3, d);
	hex(d, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sf_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, h);
	assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', sizeof(million));
	sf_sha256(million, sizeof(million), d);
	hex(d, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
key_name_is_prefixed_hash(void **state)
{
	struct sf_key k;
	(void)state;
	/* sha256("khello") begins a9434286c3c29c622c6ba2397d3e6950 */
	assert_int_equal(sf_key_from_bytes(&k, "hello", 5), 0);
	assert_string_equal(k.name, "a9434286c3c29c622c6ba2397d3e6950");
	assert_int_equal(strlen(k.name), SF_KEY_NAME_LEN);
}

static void
key_length_limits(void **state)
{
	static char big[SF_KEY_MAX + 1];
	struct sf_key k;
	(void)state;
	memset(big, '/', sizeof(big));
	errno = 0;
	assert_int_equal(sf_key_from_bytes(&k, big, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sf_key_from_bytes(&k, big, SF_KEY_MAX), 0);
	assert_null(strchr(k.name, '/'));
	assert_int_equal(sf_key_from_bytes(&k, big, SF_KEY_MAX + 1), -1);
}

static void
derived_keys_are_unambiguous(void **state)
{
	char *ab[] = { "a b", NULL }, *a_b[] = { "a", "b", NULL };
	char *kx[] = { "x", NULL };
	struct sf_key k1, k2, k3;
	(void)state;
	assert_int_equal(sf_key_from_argv(&k1, ab, "/"), 0);
	assert_int_equal(sf_key_from_argv(&k2, a_b, "/"), 0);
	assert_memory_not_equal(k1.digest, k2.digest, SF_DIGEST_LEN);
	assert_int_equal(sf_key_from_argv(&k2, ab, "/tmp"), 0);
	assert_memory_not_equal(k1.digest, k2.digest, SF_DIGEST_LEN);
	assert_int_equal(sf_key_from_argv(&k3, ab, "/"), 0);
	assert_memory_equal(k1.digest, k3.digest, SF_DIGEST_LEN);
	/* A --key can never name a derived key's flight. */
	assert_int_equal(sf_key_from_argv(&k1, kx, "/"), 0);
	assert_int_equal(sf_key_from_bytes(&k2, "x", 1), 0);
	assert_memory_not_equal(k1.digest, k2.digest, SF_DIGEST_LEN);
}


/* ---- sf_key_mix ---------------------------------------------------------- */

static char base[] = "/tmp/sf-key-XXXXXX";

#include "scratch.h"

/* path: NAME in this test run's directory, into buf (PATHLEN bytes). */
#define PATHLEN 256
static char *
path(char *buf, const char *name)
{
	snprintf(buf, PATHLEN, "%s/%s", base, name);
	return buf;
}

/* write_file: make path p hold exactly s. */
static void
write_file(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	assert_int_equal(close(fd), 0);
}

/* set_mtime: give p the modification time sec.nsec (atime: now). */
static void
set_mtime(const char *p, time_t sec, long nsec)
{
	struct timespec ts[2] = { { 0, UTIME_NOW }, { sec, nsec } };

	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* mixed: the name of key "k" with env and files mixed in (must succeed). */
static void
mixed(char *out, char *const env[], size_t nenv, char *const files[], size_t nfiles)
{
	struct sf_key k;
	char err[256] = "";

	assert_int_equal(sf_key_from_bytes(&k, "k", 1), 0);
	if (sf_key_mix(&k, env, nenv, files, nfiles, err, sizeof(err)) != 0)
		fail_msg("sf_key_mix: %s", err);
	memcpy(out, k.name, SF_KEY_NAME_LEN + 1);
}

#define MIXED(out, env, files) \
	mixed(out, env, sizeof(env) / sizeof(env[0]), files, sizeof(files) / sizeof(files[0]))

/*
 * The digest as key.h lays it out, computed apart (Python's hashlib over
 * 'm' sha256("kk") 'e' u64 6 "SF_T_A" 0 'e' u64 6 "SF_T_B" 1 u64 1 "x"
 * 'f' u64 24 "/nonexistent/sf-key-test" 0): a change of the layout changes
 * every key with --key-env or --key-file, and must be meant.
 */
static void
mix_layout_is_pinned(void **state)
{
	char *env[] = { "SF_T_B", "SF_T_A" }, *files[] = { "/nonexistent/sf-key-test" };
	struct sf_key k;
	char err[256], h[65];
	(void)state;
	unsetenv("SF_T_A");
	setenv("SF_T_B", "x", 1);
	assert_int_equal(sf_key_from_bytes(&k, "k", 1), 0);
	assert_int_equal(sf_key_mix(&k, env, 2, files, 1, err, sizeof(err)), 0);
	hex(k.digest, h);
	assert_string_equal(h, "0b4d26978536933d3c235f71f29a8592cc7eda450bf4eb723325fda40b26f745");
	assert_string_equal(k.name, "0b4d26978536933d3c235f71f29a8592");
}

static void
mix_nothing_keeps_the_key(void **state)
{
	struct sf_key k, was;
	char err[256];
	char *argv[] = { "make", NULL };
	(void)state;
	assert_int_equal(sf_key_from_bytes(&k, "k", 1), 0);
	was = k;
	assert_int_equal(sf_key_mix(&k, NULL, 0, NULL, 0, err, sizeof(err)), 0);
	assert_memory_equal(&k, &was, sizeof(k));
	assert_int_equal(sf_key_from_argv(&k, argv, "/"), 0);
	was = k;
	assert_int_equal(sf_key_mix(&k, argv, 0, argv, 0, err, sizeof(err)), 0);
	assert_memory_equal(&k, &was, sizeof(k));
}

static void
mix_changes_the_key(void **state)
{
	char *env[] = { "SF_T_UNSET" };
	struct sf_key k, was;
	char err[256];
	(void)state;
	unsetenv("SF_T_UNSET");
	assert_int_equal(sf_key_from_bytes(&k, "k", 1), 0);
	was = k;
	assert_int_equal(sf_key_mix(&k, env, 1, NULL, 0, err, sizeof(err)), 0);
	assert_memory_not_equal(k.digest, was.digest, SF_DIGEST_LEN);
	assert_string_not_equal(k.name, was.name);
	assert_int_equal(strlen(k.name), SF_KEY_NAME_LEN);
	/* The name is the new digest's, as for any key. */
	assert_int_equal(sf_key_from_bytes(&was, "k", 1), 0);
	assert_int_equal(sf_key_mix(&was, env, 1, NULL, 0, err, sizeof(err)), 0);
	assert_memory_equal(&k, &was, sizeof(k));
}

static void
mix_order_does_not_matter(void **state)
{
	char *abc[] = { "SF_T_A", "SF_T_B", "SF_T_C" }, *cab[] = { "SF_T_C", "SF_T_A", "SF_T_B" };
	char pf[PATHLEN], pg[PATHLEN];
	char *fg[] = { path(pf, "f"), path(pg, "g") }, *gf[] = { pg, pf };
	char k1[33], k2[33], k3[33];
	(void)state;
	setenv("SF_T_A", "1", 1);
	setenv("SF_T_B", "2", 1);
	unsetenv("SF_T_C");
	write_file(fg[0], "f");
	MIXED(k1, abc, fg);
	MIXED(k2, cab, gf);
	assert_string_equal(k1, k2);
	/* and the values do count: swapping them is another key */
	setenv("SF_T_A", "2", 1);
	setenv("SF_T_B", "1", 1);
	MIXED(k3, abc, fg);
	assert_string_not_equal(k1, k3);
}

static void
mix_duplicates_count_once(void **state)
{
	char *ab[] = { "SF_T_A", "SF_T_B" }, *aba[] = { "SF_T_A", "SF_T_B", "SF_T_A" };
	char pf[PATHLEN];
	char *a[] = { "SF_T_A" }, *f[] = { path(pf, "f") }, *ff[] = { pf, pf, pf };
	char k1[33], k2[33], k3[33];
	(void)state;
	setenv("SF_T_A", "1", 1);
	setenv("SF_T_B", "2", 1);
	write_file(f[0], "f");
	MIXED(k1, ab, f);
	MIXED(k2, aba, ff);
	assert_string_equal(k1, k2);
	MIXED(k3, a, f);
	assert_string_not_equal(k1, k3);
}

static void
mix_unset_empty_and_values_differ(void **state)
{
	char *a[] = { "SF_T_A" }, *none[] = { NULL };
	char unset[33], empty[33], x[33], x2[33], nul[33];
	(void)state;
	unsetenv("SF_T_A");
	mixed(unset, a, 1, none, 0);
	setenv("SF_T_A", "", 1);
	mixed(empty, a, 1, none, 0);
	setenv("SF_T_A", "x", 1);
	mixed(x, a, 1, none, 0);
	mixed(x2, a, 1, none, 0);
	/* the byte an unset variable is written as, as a value */
	setenv("SF_T_A", "\1", 1);
	mixed(nul, a, 1, none, 0);
	assert_string_not_equal(unset, empty);
	assert_string_not_equal(unset, x);
	assert_string_not_equal(empty, x);
	assert_string_not_equal(unset, nul);
	assert_string_not_equal(empty, nul);
	assert_string_equal(x, x2);
}

static void
mix_names_and_kinds_count(void **state)
{
	char *a[] = { "SF_T_A" }, *b[] = { "SF_T_B" }, *ab[] = { "SF_T_A", "SF_T_B" };
	char *none[] = { NULL }, *fa[] = { "SF_T_A" };
	char k1[33], k2[33], k3[33], k4[33];
	(void)state;
	/* A=1 and B=1 are different inputs */
	setenv("SF_T_A", "1", 1);
	unsetenv("SF_T_B");
	mixed(k1, a, 1, none, 0);
	unsetenv("SF_T_A");
	setenv("SF_T_B", "1", 1);
	mixed(k2, b, 1, none, 0);
	assert_string_not_equal(k1, k2);
	/* lengths are prefixed: A="ab" B="c" is not A="a" B="bc" */
	setenv("SF_T_A", "ab", 1);
	setenv("SF_T_B", "c", 1);
	mixed(k1, ab, 2, none, 0);
	setenv("SF_T_A", "a", 1);
	setenv("SF_T_B", "bc", 1);
	mixed(k2, ab, 2, none, 0);
	assert_string_not_equal(k1, k2);
	/* an unset variable is not a missing file of the same name
	 * (relative to a cwd where no SF_T_A exists) */
	assert_int_equal(chdir(base), 0);
	unsetenv("SF_T_A");
	mixed(k3, a, 1, none, 0);
	mixed(k4, none, 0, fa, 1);
	assert_string_not_equal(k3, k4);
}

static void
mix_long_values(void **state)
{
	size_t n = 1 << 20;
	char *v = malloc(n + 1), *a[] = { "SF_T_A" }, *none[] = { NULL };
	char k1[33], k2[33], k3[33];
	(void)state;
	assert_non_null(v);
	memset(v, 'v', n);
	v[n] = '\0';
	setenv("SF_T_A", v, 1);
	mixed(k1, a, 1, none, 0);
	v[n - 1] = 'w';         /* only the last byte of a MiB differs */
	setenv("SF_T_A", v, 1);
	mixed(k2, a, 1, none, 0);
	v[n - 1] = 'v';
	setenv("SF_T_A", v, 1);
	mixed(k3, a, 1, none, 0);
	assert_string_not_equal(k1, k2);
	assert_string_equal(k1, k3);
	unsetenv("SF_T_A");
	free(v);
}

static void
mix_missing_file_is_a_value(void **state)
{
	char pm[PATHLEN], pmx[PATHLEN];
	char *f[] = { path(pm, "m") }, *notdir[] = { path(pmx, "m/x") }, *none[] = { NULL };
	char missing[33], empty[33], again[33], nd1[33], nd2[33];
	(void)state;
	unlink(f[0]);
	mixed(missing, none, 0, f, 1);
	write_file(f[0], "");
	mixed(empty, none, 0, f, 1);
	assert_string_not_equal(missing, empty);
	assert_int_equal(unlink(f[0]), 0);
	mixed(again, none, 0, f, 1);
	assert_string_equal(missing, again);
	/* ENOTDIR (m is a file) is missing too, as ENOENT (m is a directory) */
	write_file(f[0], "");
	mixed(nd1, none, 0, notdir, 1);
	assert_int_equal(unlink(f[0]), 0);
	assert_int_equal(mkdir(f[0], 0700), 0);
	mixed(nd2, none, 0, notdir, 1);
	assert_string_equal(nd1, nd2);
	assert_int_equal(rmdir(f[0]), 0);
}

static void
mix_file_identity(void **state)
{
	char pid[PATHLEN], pnew[PATHLEN];
	char *f[] = { path(pid, "id") }, *none[] = { NULL };
	char k0[33], k[33];
	(void)state;
	write_file(f[0], "abc");
	set_mtime(f[0], 1000000000, 5);
	mixed(k0, none, 0, f, 1);
	/* the same file again, its atime and ctime changed: the same key */
	set_mtime(f[0], 1000000000, 5);
	mixed(k, none, 0, f, 1);
	assert_string_equal(k0, k);
	/* another second */
	set_mtime(f[0], 1000000001, 5);
	mixed(k, none, 0, f, 1);
	assert_string_not_equal(k0, k);
	/* only another nanosecond */
	set_mtime(f[0], 1000000000, 6);
	mixed(k, none, 0, f, 1);
	assert_string_not_equal(k0, k);
	/* another size, the mtime put back */
	assert_int_equal(truncate(f[0], 4), 0);
	set_mtime(f[0], 1000000000, 5);
	mixed(k, none, 0, f, 1);
	assert_string_not_equal(k0, k);
	/* all put back: the first key */
	assert_int_equal(truncate(f[0], 3), 0);
	set_mtime(f[0], 1000000000, 5);
	mixed(k, none, 0, f, 1);
	assert_string_equal(k0, k);
	/* another inode with the same size and mtime */
	write_file(path(pnew, "id.new"), "abc");
	set_mtime(pnew, 1000000000, 5);
	assert_int_equal(rename(pnew, pid), 0);
	mixed(k, none, 0, f, 1);
	assert_string_not_equal(k0, k);
}

static void
mix_follows_symlinks(void **state)
{
	char pl[PATHLEN], pt[PATHLEN];
	char *l[] = { path(pl, "link") }, *none[] = { NULL };
	char k1[33], k2[33], dangling[33], missing[33];
	(void)state;
	write_file(path(pt, "target"), "t");
	set_mtime(pt, 1000000000, 0);
	assert_int_equal(symlink("target", pl), 0);
	mixed(k1, none, 0, l, 1);
	set_mtime(pt, 1000000001, 0);
	mixed(k2, none, 0, l, 1);
	assert_string_not_equal(k1, k2);
	/* a dangling link is a missing file */
	assert_int_equal(unlink(pt), 0);
	mixed(dangling, none, 0, l, 1);
	assert_int_equal(unlink(l[0]), 0);
	mixed(missing, none, 0, l, 1);
	assert_string_equal(dangling, missing);
}

static void
mix_stat_error_is_an_error(void **state)
{
	char pl[PATHLEN];
	char *loop[] = { path(pl, "loop") }, *none[] = { NULL }, *a[] = { "SF_T_A" };
	char want[512], err[512], *big[1];
	struct sf_key k, was;
	(void)state;
	assert_int_equal(symlink("loop", loop[0]), 0);
	assert_int_equal(sf_key_from_bytes(&k, "k", 1), 0);
	was = k;
	errno = 0;
	assert_int_equal(sf_key_mix(&k, a, 1, loop, 1, err, sizeof(err)), -1);
	assert_int_equal(errno, ELOOP);
	snprintf(want, sizeof(want), "cannot use --key-file %s: %s", loop[0],
	    strerror(ELOOP));
	assert_string_equal(err, want);
	assert_memory_equal(&k, &was, sizeof(k));
	/* a name too long for the kernel is no missing file either */
	big[0] = malloc(8192);
	assert_non_null(big[0]);
	memset(big[0], 'n', 8191);
	big[0][8191] = '\0';
	errno = 0;
	assert_int_equal(sf_key_mix(&k, none, 0, big, 1, err, sizeof(err)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_memory_equal(&k, &was, sizeof(k));
	free(big[0]);
	/* a NULL list or name */
	big[0] = NULL;
	assert_int_equal(sf_key_mix(&k, NULL, 1, none, 0, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sf_key_mix(&k, a, 1, big, 1, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_memory_equal(&k, &was, sizeof(k));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha256_vectors),
		cmocka_unit_test(key_name_is_prefixed_hash),
		cmocka_unit_test(key_length_limits),
		cmocka_unit_test(derived_keys_are_unambiguous),
		cmocka_unit_test(mix_layout_is_pinned),
		cmocka_unit_test(mix_nothing_keeps_the_key),
		cmocka_unit_test(mix_changes_the_key),
		cmocka_unit_test(mix_order_does_not_matter),
		cmocka_unit_test(mix_duplicates_count_once),
		cmocka_unit_test(mix_unset_empty_and_values_differ),
		cmocka_unit_test(mix_names_and_kinds_count),
		cmocka_unit_test(mix_long_values),
		cmocka_unit_test(mix_missing_file_is_a_value),
		cmocka_unit_test(mix_file_identity),
		cmocka_unit_test(mix_follows_symlinks),
		cmocka_unit_test(mix_stat_error_is_an_error),
	};
	return cmocka_run_group_tests_name("key", tests, setup, teardown);
}
