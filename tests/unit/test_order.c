/*
 * test_order.c — the order index (proto.h): the runner's records as
 * output.c writes them, and an invocation's replay of them (order.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "order.h"
#include "output.h"
#include "proto.h"

/* An index spool holding the records given as (stream, end) pairs. */
static int
index_of(int n, const int *rec)
{
	uint8_t r[SF_ORDER_RECORD];
	int fd = memfd_create("index", MFD_CLOEXEC), i;

	assert_true(fd >= 0);
	for (i = 0; i < n; i++) {
		sf_proto_order_put(r, rec[2 * i], (uint64_t)rec[2 * i + 1]);
		assert_int_equal(write(fd, r, sizeof(r)), (ssize_t)sizeof(r));
	}
	return fd;
}

/*
 * Replay as client.c does, with the announcements made so far: write what
 * may be written, and append "o" or "e" per byte to got.  Returns
 * sf_order_next's last answer (0 or -1).
 */
static int
replay(struct sf_order *o, uint64_t pos[2], const uint64_t avail[2], char *got)
{
	uint64_t upto;
	int s, r;

	while ((r = sf_order_next(o, pos, avail, &s, &upto)) > 0) {
		assert_true(upto > pos[s]);
		assert_true(upto <= avail[s]);
		for (; pos[s] < upto; pos[s]++)
			strcat(got, s == 0 ? "o" : "e");
	}
	return r;
}

static void
live_and_late(void **state)
{
	/* The runner read: 2 of stdout, 3 of stderr, 1 of stdout, 2 of stderr. */
	const int rec[] = { SF_STDOUT, 2, SF_STDERR, 3, SF_STDOUT, 3 };
	struct sf_order o;
	uint64_t pos[2] = { 0, 0 }, avail[2] = { 0, 0 };
	char got[64] = "";
	(void)state;

	sf_order_init(&o);
	o.fd = index_of(3, rec);
	/* Live: stdout's first bytes, before any record. */
	avail[0] = 2;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "oo");
	/* The record came first, stderr's DATA after it. */
	o.end = 1 * SF_ORDER_RECORD;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	avail[1] = 3;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "ooeee");
	/* Coalesced: both records and both streams' ends at once. */
	o.end = 3 * SF_ORDER_RECORD;
	avail[0] = 3;
	avail[1] = 5;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "ooeeeoee");

	/* A joiner from byte 0, told everything at once. */
	sf_order_init(&o);
	o.fd = index_of(3, rec);
	o.end = 3 * SF_ORDER_RECORD;
	pos[0] = pos[1] = 0;
	got[0] = '\0';
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "ooeeeoee");
	close(o.fd);
}

static void
record_waits_for_its_data(void **state)
{
	const int rec[] = { SF_STDERR, 4 };
	struct sf_order o;
	uint64_t pos[2] = { 0, 0 }, avail[2] = { 0, 0 };
	char got[64] = "";
	(void)state;

	sf_order_init(&o);
	o.fd = index_of(1, rec);
	o.end = SF_ORDER_RECORD;
	/* stdout is announced, but stderr's first 4 bytes come before it. */
	avail[0] = 5;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "");
	avail[1] = 2;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "ee");
	avail[1] = 4;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "eeeeooooo");
	close(o.fd);
}

static void
no_index(void **state)
{
	struct sf_order o;
	uint64_t pos[2] = { 0, 0 }, avail[2] = { 0, 7 };
	char got[64] = "";
	(void)state;

	/* One stream only: the runner never made an index. */
	sf_order_init(&o);
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "eeeeeee");
	/* Both streams with bytes and no record: wait for the record. */
	sf_order_init(&o);
	pos[0] = pos[1] = 0;
	avail[0] = 1;
	got[0] = '\0';
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, "");
}

static void
refuses_bad_indexes(void **state)
{
	const int back[] = { SF_STDOUT, 4, SF_STDERR, 1, SF_STDOUT, 2 };
	uint8_t zero[SF_ORDER_RECORD] = { 0 };
	struct sf_order o;
	uint64_t pos[2] = { 0, 0 }, avail[2] = { 10, 10 };
	char got[64] = "";
	(void)state;

	/* A run that would end before bytes already written. */
	sf_order_init(&o);
	o.fd = index_of(3, back);
	o.end = 3 * SF_ORDER_RECORD;
	errno = 0;
	assert_int_equal(replay(&o, pos, avail, got), -1);
	assert_int_equal(errno, EPROTO);
	assert_string_equal(got, "ooooe");
	close(o.fd);
	/* A record of no stream (a hole in the file reads as zeros). */
	sf_order_init(&o);
	o.fd = memfd_create("index", MFD_CLOEXEC);
	assert_int_equal(write(o.fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	o.end = SF_ORDER_RECORD;
	pos[0] = pos[1] = 0;
	errno = 0;
	assert_int_equal(replay(&o, pos, avail, got), -1);
	assert_int_equal(errno, EPROTO);
	/* Announced beyond what the file holds. */
	o.end = 4 * SF_ORDER_RECORD;
	o.at = o.have = 0;
	errno = 0;
	assert_int_equal(replay(&o, pos, avail, got), -1);
	assert_int_equal(errno, EIO);
	close(o.fd);
	/* Announced, but no spool was handed over. */
	sf_order_init(&o);
	o.end = SF_ORDER_RECORD;
	errno = 0;
	assert_int_equal(replay(&o, pos, avail, got), -1);
	assert_int_equal(errno, EPROTO);
}

static void
many_records(void **state)
{
	/* More records than order.c buffers at once: 1000 one-byte runs. */
	int rec[2 * 1000], i;
	struct sf_order o;
	uint64_t pos[2] = { 0, 0 }, avail[2] = { 501, 500 };
	char *got = calloc(1, 2048), want[2048];
	(void)state;

	for (i = 0; i < 1000; i++) {
		rec[2 * i] = i % 2 == 0 ? SF_STDOUT : SF_STDERR;
		rec[2 * i + 1] = i / 2 + 1;
		want[i] = i % 2 == 0 ? 'o' : 'e';
	}
	want[1000] = 'o';   /* the open run: stdout */
	want[1001] = '\0';
	sf_order_init(&o);
	o.fd = index_of(1000, rec);
	o.end = 1000 * SF_ORDER_RECORD;
	assert_int_equal(replay(&o, pos, avail, got), 0);
	assert_string_equal(got, want);
	close(o.fd);
	free(got);
}

/* ---- the runner's side ------------------------------------------------------ */

static void
put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void
output_records_switches(void **state)
{
	char dir[] = "/tmp/test_order.XXXXXX";
	int out[2], err[2], dirfd, stream;
	struct sf_output o;
	uint8_t rec[4 * SF_ORDER_RECORD];
	uint64_t end;
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_true((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
	assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(sf_output_init(&o, dirfd), 0);

	put(out[1], "ab");
	assert_int_equal(sf_output_fill(&o, 0, out[0], 1 << 20), 2);
	put(out[1], "c");       /* the same run goes on: no record */
	assert_int_equal(sf_output_fill(&o, 0, out[0], 1 << 20), 1);
	assert_int_equal(o.spool[SF_OUT_ORDER], -1);
	put(err[1], "XY");
	assert_int_equal(sf_output_fill(&o, 1, err[0], 1 << 20), 2);
	put(out[1], "d");
	assert_int_equal(sf_output_fill(&o, 0, out[0], 1 << 20), 1);
	/* Nothing waiting is no run. */
	errno = 0;
	assert_int_equal(sf_output_fill(&o, 1, err[0], 1 << 20), -1);
	assert_int_equal(errno, EAGAIN);
	put(err[1], "Z");
	assert_int_equal(sf_output_fill(&o, 1, err[0], 1 << 20), 1);

	assert_true(o.size[SF_OUT_ORDER] == 3 * SF_ORDER_RECORD);
	assert_int_equal(pread(o.reader[SF_OUT_ORDER], rec, sizeof(rec), 0),
	    3 * SF_ORDER_RECORD);
	assert_int_equal(sf_proto_order_get(rec, &stream, &end), 0);
	assert_int_equal(stream, SF_STDOUT);
	assert_true(end == 3);
	assert_int_equal(sf_proto_order_get(rec + 8, &stream, &end), 0);
	assert_int_equal(stream, SF_STDERR);
	assert_true(end == 2);
	assert_int_equal(sf_proto_order_get(rec + 16, &stream, &end), 0);
	assert_int_equal(stream, SF_STDOUT);
	assert_true(end == 4);
	assert_int_equal(o.failed, -1);

	sf_output_free(&o);
	close(out[0]); close(out[1]);
	close(err[0]); close(err[1]);
	close(dirfd);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(live_and_late),
		cmocka_unit_test(record_waits_for_its_data),
		cmocka_unit_test(no_index),
		cmocka_unit_test(refuses_bad_indexes),
		cmocka_unit_test(many_records),
		cmocka_unit_test(output_records_switches),
	};
	return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
