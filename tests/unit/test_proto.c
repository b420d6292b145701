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
	static uint8_t buf[SF_PROTO_MAX_BIG];
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

/* CACHE (version 3): keep_ms whole, the one flag; other flag bits refused
 * both ways. */
static void
cache_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_CACHE }, o;
	uint8_t buf[SF_PROTO_MAX_FRAME];
	int len;
	(void)state;
	m.u.cache.keep_ms = 0xfedcba9876543210ULL;
	m.u.cache.flags = SF_CACHE_FAILURES;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 9);
	assert_int_equal(o.type, SF_MSG_CACHE);
	assert_true(o.u.cache.keep_ms == 0xfedcba9876543210ULL);
	assert_int_equal(o.u.cache.flags, SF_CACHE_FAILURES);
	m.u.cache.flags = 0x02;
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	m.u.cache.flags = 0;
	len = sf_proto_encode(&m, buf, sizeof(buf));
	buf[len - 1] = 0x80;
	assert_int_equal(sf_proto_decode(buf, (size_t)len, &o), -1);
	assert_int_equal(errno, EPROTO);
	buf[len - 1] = 0;
	buf[3] = 8;                     /* one byte short */
	assert_int_equal(sf_proto_decode(buf, (size_t)len, &o), -1);
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
	m.u.exit.size[2] = 5 * SF_ORDER_RECORD;
	m.u.exit.namelen = SF_PROTO_MAX_NAME;
	memset(m.u.exit.name, 'n', SF_PROTO_MAX_NAME);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_MAX_FRAME);
	assert_int_equal(o.u.exit.how, SF_END_EXEC_FAILED);
	assert_int_equal(o.u.exit.code, -5);
	assert_int_equal(o.u.exit.err, ENOENT);
	assert_true(o.u.exit.size[0] == 1ULL << 40);
	assert_true(o.u.exit.size[1] == 3);
	assert_true(o.u.exit.size[2] == 5 * SF_ORDER_RECORD);
	assert_int_equal(o.u.exit.namelen, SF_PROTO_MAX_NAME);
	assert_int_equal(strlen(o.u.exit.name), SF_PROTO_MAX_NAME);
}

static void
order_frames_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_SPOOL }, o;
	(void)state;
	m.u.spool.stream = SF_ORDER;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 1);
	assert_int_equal(o.u.spool.stream, SF_ORDER);
	m.type = SF_MSG_DATA;
	m.u.data.stream = SF_ORDER;
	m.u.data.end = 1000 * SF_ORDER_RECORD;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 9);
	assert_int_equal(o.u.data.stream, SF_ORDER);
	assert_true(o.u.data.end == 1000 * SF_ORDER_RECORD);
}

static void
note_roundtrip(void **state)
{
	struct sf_msg m = { .type = SF_MSG_NOTE }, o;
	(void)state;
	m.u.note.what = SF_NOTE_STOPPED;
	m.u.note.sig = 20;      /* SIGTSTP */
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 2);
	assert_int_equal(o.type, SF_MSG_NOTE);
	assert_int_equal(o.u.note.what, SF_NOTE_STOPPED);
	assert_int_equal(o.u.note.sig, 20);
	m.u.note.what = SF_NOTE_CONTINUED;
	m.u.note.sig = 0;
	roundtrip(&m, &o);
	assert_int_equal(o.u.note.what, SF_NOTE_CONTINUED);
	assert_int_equal(o.u.note.sig, 0);
}

static void
order_records(void **state)
{
	uint8_t rec[SF_ORDER_RECORD];
	const uint8_t out_10[SF_ORDER_RECORD] = { 0x40, 0, 0, 0, 0, 0, 0, 10 };
	const uint8_t no_stream[SF_ORDER_RECORD] = { 0x00, 0, 0, 0, 0, 0, 0, 10 };
	const uint8_t both[SF_ORDER_RECORD] = { 0xc0, 0, 0, 0, 0, 0, 0, 10 };
	uint64_t end;
	int stream;
	(void)state;
	/* The layout written down in proto.h: stream << 62 | end, big endian. */
	sf_proto_order_put(rec, SF_STDOUT, 10);
	assert_memory_equal(rec, out_10, sizeof(rec));
	sf_proto_order_put(rec, SF_STDERR, (1ULL << 62) - 1);
	assert_int_equal(sf_proto_order_get(rec, &stream, &end), 0);
	assert_int_equal(stream, SF_STDERR);
	assert_true(end == (1ULL << 62) - 1);
	errno = 0;
	assert_int_equal(sf_proto_order_get(no_stream, &stream, &end), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(sf_proto_order_get(both, &stream, &end), -1);
}

/* Version 1's HELLO has version 2's layout, so a runner reads it right and
 * refuses it for its version (hub.c); version 1's EXIT, 8 bytes shorter,
 * is no version 2 frame at all. */
static void
version_1_frames(void **state)
{
	uint8_t hello_v1[SF_PROTO_HEADER + 36] = { 'H', 0, 0, 36, 0, 1, 0, 0 };
	uint8_t exit_v1[SF_PROTO_HEADER + 25] = { 'X', 0, 0, 25, SF_END_EXITED };
	struct sf_msg o;
	(void)state;
	assert_int_equal(sf_proto_decode(hello_v1, sizeof(hello_v1), &o),
	    (int)sizeof(hello_v1));
	assert_int_equal(o.type, SF_MSG_HELLO);
	assert_int_equal(o.u.hello.version, 1);
	assert_int_equal(o.u.hello.flags, 0);
	assert_true(o.u.hello.version != SF_PROTO_VERSION);
	errno = 0;
	assert_int_equal(sf_proto_decode(exit_v1, sizeof(exit_v1), &o), -1);
	assert_int_equal(errno, EPROTO);
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
	const uint8_t bad_stream[] = { 'D', 0, 0, 9, 4, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t bad_end[SF_PROTO_HEADER + 33] = { 'X', 0, 0, 33, 9 };
	uint8_t torn_index[SF_PROTO_HEADER + 33] = { 'X', 0, 0, 33, SF_END_EXITED };
	const uint8_t torn_data[] = { 'D', 0, 0, 9, SF_ORDER, 0, 0, 0, 0, 0, 0, 0, 12 };
	const uint8_t bad_spool[] = { 'S', 0, 0, 1, 4 };
	const uint8_t note_what[] = { 'N', 0, 0, 2, 3, 0 };
	const uint8_t note_stop_0[] = { 'N', 0, 0, 2, SF_NOTE_STOPPED, 0 };
	const uint8_t note_cont_sig[] = { 'N', 0, 0, 2, SF_NOTE_CONTINUED, 18 };
	const uint8_t note_long[] = { 'N', 0, 0, 3, SF_NOTE_STOPPED, 19, 0 };
	expect_invalid(unknown, sizeof(unknown));
	expect_invalid(reserved, sizeof(reserved));
	expect_invalid(huge, sizeof(huge));           /* judged on the header alone */
	expect_invalid(short_hello, sizeof(short_hello));
	expect_invalid(bad_stream, sizeof(bad_stream));
	expect_invalid(bad_end, sizeof(bad_end));
	torn_index[SF_PROTO_HEADER + 32] = 4;   /* half a record */
	expect_invalid(torn_index, sizeof(torn_index));
	expect_invalid(torn_data, sizeof(torn_data));
	expect_invalid(bad_spool, sizeof(bad_spool));
	expect_invalid(note_what, sizeof(note_what));
	expect_invalid(note_stop_0, sizeof(note_stop_0));
	expect_invalid(note_cont_sig, sizeof(note_cont_sig));
	expect_invalid(note_long, 4);           /* judged on the header alone */
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
	m.u.data.stream = SF_ORDER;
	m.u.data.end = 9;                       /* not whole records */
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_NOTE;
	m.u.note.what = SF_NOTE_STOPPED;        /* with no signal */
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_EXIT;
	m.u.exit.how = SF_END_EXITED;
	m.u.exit.size[2] = 3;
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
}

/* The control requests and DONE (version 4). */
static void
control_roundtrip(void **state)
{
	struct sf_msg m, o;
	uint8_t buf[SF_PROTO_MAX_FRAME];
	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_QUERY;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER);
	assert_int_equal(o.type, SF_MSG_QUERY);
	m.type = SF_MSG_FORGET;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER);
	assert_int_equal(o.type, SF_MSG_FORGET);
	m.type = SF_MSG_CANCEL;
	m.u.cancel.grace_ms = 0xfffffffeU;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 4);
	assert_int_equal(o.u.cancel.grace_ms, 0xfffffffeU);
	m.type = SF_MSG_DONE;
	m.u.done.done = 1;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 1);
	assert_int_equal(o.u.done.done, 1);
	m.u.done.done = 2;
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	{
		const uint8_t done2[] = { 'O', 0, 0, 1, 2 };
		const uint8_t query1[] = { 'Q', 0, 0, 1, 0 };
		const uint8_t cancel3[] = { 'K', 0, 0, 3, 0, 0, 0 };
		expect_invalid(done2, sizeof(done2));
		expect_invalid(query1, 4);      /* judged on the header */
		expect_invalid(cancel3, 4);
	}
}

/* A STATUS with the longest key and arguments, and one of a derived key
 * that has ended: every field back, the strings pointing into the frame. */
static void
status_roundtrip(void **state)
{
	static uint8_t key[SF_PROTO_MAX_KEY], argv[SF_PROTO_MAX_ARGV];
	struct sf_msg m, o;
	(void)state;
	memset(key, 0xff, sizeof(key));
	key[0] = 0;
	memset(argv, 'a', sizeof(argv));
	argv[9] = argv[sizeof(argv) - 1] = '\0';
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_STATUS;
	m.u.status.state = SF_STATE_FORGOTTEN;
	m.u.status.flags = SF_STATUS_ARGV_CUT;
	m.u.status.runner = 4000000001u;
	m.u.status.invocations = 77;
	m.u.status.started_ns = -5;
	m.u.status.size[0] = 1ULL << 40;
	m.u.status.size[1] = 3;
	m.u.status.key = key;
	m.u.status.keylen = sizeof(key);
	m.u.status.argv = argv;
	m.u.status.argvlen = sizeof(argv);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_MAX_BIG);
	assert_int_equal(o.u.status.state, SF_STATE_FORGOTTEN);
	assert_int_equal(o.u.status.flags, SF_STATUS_ARGV_CUT);
	assert_int_equal(o.u.status.runner, 4000000001u);
	assert_int_equal(o.u.status.invocations, 77);
	assert_true(o.u.status.started_ns == -5);
	assert_true(o.u.status.size[0] == 1ULL << 40);
	assert_int_equal(o.u.status.size[1], 3);
	assert_int_equal(o.u.status.keylen, sizeof(key));
	assert_memory_equal(o.u.status.key, key, sizeof(key));
	assert_int_equal(o.u.status.argvlen, sizeof(argv));
	assert_memory_equal(o.u.status.argv, argv, sizeof(argv));

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_STATUS;
	m.u.status.state = SF_STATE_STOPPING;
	m.u.status.flags = SF_STATUS_DERIVED | SF_STATUS_ENDED;
	m.u.status.how = SF_END_SIGNALED;
	m.u.status.code = 9;
	m.u.status.ended_ns = 1234567890123456789LL;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + SF_PROTO_STATUS_FIXED);
	assert_int_equal(o.u.status.how, SF_END_SIGNALED);
	assert_int_equal(o.u.status.code, 9);
	assert_true(o.u.status.ended_ns == 1234567890123456789LL);
	assert_int_equal(o.u.status.keylen, 0);
	assert_int_equal(o.u.status.argvlen, 0);
}

/* STATUS's fields must agree: each of these is refused both ways. */
static void
status_refused(void **state)
{
	static uint8_t buf[SF_PROTO_MAX_BIG];
	const uint8_t argv[] = { 'l', 's' };    /* no NUL at the end */
	struct sf_msg good, m;
	int len, i;
	(void)state;
	memset(&good, 0, sizeof(good));
	good.type = SF_MSG_STATUS;
	good.u.status.state = SF_STATE_RUNNING;
	good.u.status.key = (const uint8_t *)"k";
	good.u.status.keylen = 1;
	for (i = 0; i < 7; i++) {
		m = good;
		switch (i) {
		case 0: m.u.status.state = 0; break;
		case 1: m.u.status.state = SF_STATE_FORGOTTEN + 1; break;
		case 2: m.u.status.flags = 0x08; break;
		case 3: m.u.status.how = SF_END_EXITED; break;   /* not ended */
		case 4: m.u.status.flags = SF_STATUS_ENDED; break; /* how 0 */
		case 5: m.u.status.flags = SF_STATUS_DERIVED; break; /* a key */
		case 6: m.u.status.argv = argv; m.u.status.argvlen = 2; break;
		}
		assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	}
	m = good;
	m.u.status.keylen = 0;                  /* neither derived nor a key */
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
	/* Too small a buffer for this STATUS. */
	assert_int_equal(sf_proto_encode(&good, buf, SF_PROTO_MAX_FRAME),
	    SF_PROTO_HEADER + SF_PROTO_STATUS_FIXED + 1);
	good.u.status.argv = (const uint8_t *)"x\0";
	good.u.status.argvlen = 2;
	good.u.status.keylen = SF_PROTO_MAX_FRAME;
	good.u.status.key = buf + 4096;
	assert_int_equal(sf_proto_encode(&good, buf, SF_PROTO_MAX_FRAME), -1);

	/* Decoder: lengths that do not add up, the key running past. */
	good.u.status.keylen = 1;
	good.u.status.key = (const uint8_t *)"k";
	len = sf_proto_encode(&good, buf, sizeof(buf));
	assert_true(len > 0);
	buf[3]++;                               /* payload one longer */
	buf[len] = 0;
	expect_invalid(buf, (size_t)len + 1);
	buf[3]--;
	buf[SF_PROTO_HEADER + 47] = 0x10;       /* keylen 4097 */
	expect_invalid(buf, (size_t)len);
	buf[SF_PROTO_HEADER + 47] = 0;
	buf[SF_PROTO_HEADER + 48] = 3;          /* key past the payload */
	expect_invalid(buf, (size_t)len);
	{
		const uint8_t huge[] = { 'T', 0, 0xff, 0xff };
		const uint8_t tiny[] = { 'T', 0, 0, 50 };
		expect_invalid(huge, sizeof(huge));     /* beyond SF_PROTO_MAX_BIG */
		expect_invalid(tiny, sizeof(tiny));     /* below the fixed part */
	}
}

/* sf_proto_pack_argv: whole arguments while they fit, then one cut. */
static void
pack_argv(void **state)
{
	char *const three[] = { "ls", "-l", "dir", NULL };
	char *const none[] = { NULL };
	static char big[SF_PROTO_MAX_ARGV + 10];
	char *const bigv[] = { "x", big, "never", NULL };
	uint8_t out[SF_PROTO_MAX_ARGV];
	int cut;
	(void)state;
	assert_int_equal(sf_proto_pack_argv(three, out, sizeof(out), &cut), 10);
	assert_memory_equal(out, "ls\0-l\0dir\0", 10);
	assert_int_equal(cut, 0);
	assert_int_equal(sf_proto_pack_argv(none, out, sizeof(out), &cut), 0);
	assert_int_equal(sf_proto_pack_argv(three, out, 6, &cut), 6);
	assert_memory_equal(out, "ls\0-l\0", 6);
	assert_int_equal(cut, 1);
	/* Room for a NUL alone is no room: the argument is left out. */
	assert_int_equal(sf_proto_pack_argv(three, out, 7, &cut), 6);
	assert_int_equal(cut, 1);
	assert_int_equal(sf_proto_pack_argv(three, out, 8, &cut), 8);
	assert_memory_equal(out, "ls\0-l\0d\0", 8);
	assert_int_equal(cut, 1);
	memset(big, 'b', sizeof(big) - 1);
	assert_int_equal(sf_proto_pack_argv(bigv, out, sizeof(out), &cut),
	    SF_PROTO_MAX_ARGV);
	assert_int_equal(out[SF_PROTO_MAX_ARGV - 1], '\0');
	assert_int_equal(out[SF_PROTO_MAX_ARGV - 2], 'b');
	assert_int_equal(cut, 1);
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

/* WELCOME's notice (version 5): none, some, the most, one for -v only
 * (SF_WELCOME_VERBOSE); one byte past the most is refused.  EXIT's
 * SF_END_FLEET and SF_END_BUSY carry their line in name. */
static void
welcome_notice_and_fleet_end(void **state)
{
	struct sf_msg m = { .type = SF_MSG_WELCOME }, o;
	uint8_t buf[SF_PROTO_MAX_FRAME + 8];
	int len;
	(void)state;
	m.u.welcome.version = SF_PROTO_VERSION;
	m.u.welcome.runner = 7;
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 16);
	assert_int_equal(o.u.welcome.noticelen, 0);
	assert_string_equal(o.u.welcome.notice, "");
	m.u.welcome.noticelen = 5;
	memcpy(m.u.welcome.notice, "hello", 5);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 21);
	assert_string_equal(o.u.welcome.notice, "hello");
	assert_int_equal(o.u.welcome.runner, 7);
	assert_int_equal(o.u.welcome.flags, 0);
	m.u.welcome.flags = SF_WELCOME_VERBOSE;
	roundtrip(&m, &o);
	assert_int_equal(o.u.welcome.flags, SF_WELCOME_VERBOSE);
	m.u.welcome.flags = 0;
	m.u.welcome.noticelen = SF_PROTO_MAX_NAME;
	memset(m.u.welcome.notice, 'n', SF_PROTO_MAX_NAME);
	assert_int_equal(roundtrip(&m, &o), SF_PROTO_HEADER + 16 + SF_PROTO_MAX_NAME);
	assert_int_equal(o.u.welcome.noticelen, SF_PROTO_MAX_NAME);
	/* a frame one byte longer than the most a WELCOME may be */
	len = sf_proto_encode(&m, buf, sizeof(buf));
	buf[len] = 'n';
	buf[2] = (uint8_t)((len - SF_PROTO_HEADER + 1) >> 8);
	buf[3] = (uint8_t)(len - SF_PROTO_HEADER + 1);
	assert_int_equal(sf_proto_decode(buf, (size_t)len + 1, &o), -1);
	assert_int_equal(errno, EPROTO);

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_EXIT;
	m.u.exit.how = SF_END_FLEET;
	m.u.exit.namelen = 10;
	memcpy(m.u.exit.name, "owner lost", 10);
	roundtrip(&m, &o);
	assert_int_equal(o.u.exit.how, SF_END_FLEET);
	assert_string_equal(o.u.exit.name, "owner lost");
	m.u.exit.how = SF_END_BUSY;
	roundtrip(&m, &o);
	assert_int_equal(o.u.exit.how, SF_END_BUSY);
	m.u.exit.how = SF_END_BUSY + 1;
	assert_int_equal(sf_proto_encode(&m, buf, sizeof(buf)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hello_roundtrip),
		cmocka_unit_test(welcome_roundtrip),
		cmocka_unit_test(cache_roundtrip),
		cmocka_unit_test(data_roundtrip),
		cmocka_unit_test(exit_roundtrip),
		cmocka_unit_test(order_frames_roundtrip),
		cmocka_unit_test(note_roundtrip),
		cmocka_unit_test(order_records),
		cmocka_unit_test(version_1_frames),
		cmocka_unit_test(decoder_refuses),
		cmocka_unit_test(encoder_refuses),
		cmocka_unit_test(two_frames_back_to_back),
		cmocka_unit_test(control_roundtrip),
		cmocka_unit_test(status_roundtrip),
		cmocka_unit_test(status_refused),
		cmocka_unit_test(pack_argv),
		cmocka_unit_test(welcome_notice_and_fleet_end),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
