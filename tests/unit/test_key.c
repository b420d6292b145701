/* test_key.c — SHA-256 against FIPS 180-4 vectors; key names and domains. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha256_vectors),
		cmocka_unit_test(key_name_is_prefixed_hash),
		cmocka_unit_test(key_length_limits),
		cmocka_unit_test(derived_keys_are_unambiguous),
	};
	return cmocka_run_group_tests_name("key", tests, NULL, NULL);
}
