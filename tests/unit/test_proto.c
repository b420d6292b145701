/* test_proto.c — frames round-trip, and the decoder refuses what it must. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static int
roundtrip(const struct sf_msg *in, struct sf_msg *out)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	int len = sf_proto_encode(in, buf, sizeof(buf)), i;

	assert_true(len >= SF_PROTO_HEADER);
	/* Every proper prefix is "incomplete", never "invalid". */
	for (i = 0; i < len; i++)
		assert_int_equal(sf_proto_decode(buf, (size_t)i, out), 0);
	assert_int_equal(sf_proto_decode(buf, (size_t)len, out), len);
	return len;
}

static void
hello_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_HELLO }, o;
	(void)state;
	m.u.hello.version = SF_PROTO_VERSION;
	memset(m.u.hello.digest, 0xab, SF_DIGEST_LEN);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 36);
	assert_int_equal(o.type, SF_MSG_HELLO);
	assert_int_equal(o.u.hello.version, SF_PROTO_VERSION);
	assert_memory_equal(o.u.hello.digest, m.u.hello.digest, SF_DIGEST_LEN);
}

static void
welcome_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_WELCOME }, o;
	(void)state;
	m.u.welcome.version = 1;
	m.u.welcome.runner = 4000000001u;
	m.u.welcome.starter = 7;
	m.u.welcome.pgid = 123456;
	roundtrip(&m, &o);
	assert_int_equal(o.u.welcome.runner, 4000000001u);
	assert_int_equal(o.u.welcome.starter, 7);
	assert_int_equal(o.u.welcome.pgid, 123456);
}

static void
data_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_DATA }, o;
	(void)state;
	m.u.data.stream = SF_STDERR;
	m.u.data.end = 0x0123456789abcdefULL;
	roundtrip(&m, &o);
	assert_int_equal(o.u.data.stream, SF_STDERR);
	assert_true(o.u.data.end == 0x0123456789abcdefULL);
}

static void
exit_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_EXIT }, o;
	(void)state;
	m.u.exit.how = SF_END_EXEC_FAILED;
	m.u.exit.code = -5;
	m.u.exit.err = ENOENT;
	m.u.exit.size[0] = 1ULL << 40;
	m.u.exit.size[1] = 3;
	m.u.exit.namelen = SF_PROTO_MAX_NAME;
	memset(m.u.exit.name, 'n', SF_PROTO_MAX_NAME);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_MAX_FRAME);
	assert_int_equal(o.u.exit.how, SF_END_EXEC_FAILED);
	assert_int_equal(o.u.exit.code, -5);
	assert_int_equal(o.u.exit.err, ENOENT);
	assert_true(o.u.exit.size[0] == 1ULL << 40);
	assert_int_equal(o.u.exit.namelen, SF_PROTO_MAX_NAME);
	assert_int_equal(strlen(o.u.exit.name), SF_PROTO_MAX_NAME);
}

static void
expect_invalid(const uint8_t *buf, size_t len)
{
	struct sf_msg o;
	errno = 0;
	assert_int_equal(sf_proto_decode(buf, len, &o), -1);
	assert_int_equal(errno, EPROTO);
}

static void
decoder_refuses(void **state)
{
	(void)state;
	const uint8_t unknown[] = { 'Z' };
	const uint8_t reserved[] = { 'H', 1 };
	const uint8_t huge[] = { 'X', 0, 0xff, 0xff };
	const uint8_t short_hello[] = { 'H', 0, 0, 35 };
	const uint8_t bad_stream[] = { 'D', 0, 0, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t bad_end[SF_PROTO_HEADER + 25] = { 'X', 0, 0, 25, 9 };
	expect_invalid(unknown, sizeof(unknown));
	expect_invalid(reserved, sizeof(reserved));
	expect_invalid(huge, sizeof(huge));           /* judged on the header alone */
	expect_invalid(short_hello, sizeof(short_hello));
	expect_invalid(bad_stream, sizeof(bad_stream));
	expect_invalid(bad_end, sizeof(bad_end));
}

static void
encoder_refuses(void **state)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct sf_msg m = { .type = SF_MSG_DATA };
	(void)state;
	m.u.data.stream = 0;
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	m.type = (enum sf_msg_type)'?';
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	m.type = SF_MSG_DATA;
	m.u.data.stream = SF_STDOUT;
	assert_int_equal(sf_proto_encode(&m, buf, 8), -1);
}

static void
two_frames_back_to_back(void **state)
{
	uint8_t buf[2 * SF_PROTO_MAX_FRAME];
	struct sf_msg a = { .type = SF_MSG_DATA }, b = { .type = SF_MSG_REFUSE }, o;
	int la, lb;
	(void)state;
	a.u.data.stream = SF_STDOUT;
	a.u.data.end = 10;
	b.u.refuse.reason = SF_REFUSE_KEY;
	la = sf_proto_encode(&a, buf, SF_PROTO_MAX_FRAME);
	lb = sf_proto_encode(&b, buf + la, SF_PROTO_MAX_FRAME);
	assert_int_equal(sf_proto_decode(buf, (size_t)(la + lb), &o), la);
	assert_int_equal(o.type, SF_MSG_DATA);
	assert_int_equal(sf_proto_decode(buf + la, (size_t)lb, &o), lb);
	assert_int_equal(o.u.refuse.reason, SF_REFUSE_KEY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hello_roundtrip),
		cmocka_unit_test(welcome_roundtrip),
		cmocka_unit_test(data_roundtrip),
		cmocka_unit_test(exit_roundtrip),
		cmocka_unit_test(decoder_refuses),
		cmocka_unit_test(encoder_refuses),
		cmocka_unit_test(two_frames_back_to_back),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
