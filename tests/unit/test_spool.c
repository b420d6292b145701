/* test_spool.c — spools: unnamed, filled from a pipe, copied out exactly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

static int
entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void
fill_and_copy(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX", out[] = "/tmp/sf-spool-out-XXXXXX";
	static uint8_t data[300000], back[300000];
	uint64_t size = 0, off = 0;
	int dfd, sp, rd, p[2], ofd, fl;
	size_t i, w;
	ssize_t n;
	(void)state;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);   /* NULs included */
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp = sf_spool_create(dfd);
	assert_true(sp > 2);
	assert_int_equal(entries(dir), 0);             /* no name, nothing left */
	rd = sf_spool_reader(sp);
	assert_true(rd > 2);
	assert_int_equal(fcntl(rd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fcntl(rd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fl = fcntl(p[0], F_GETFL);
	fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
	errno = 0;
	assert_int_equal(sf_spool_fill(sp, p[0], &size), -1);
	assert_int_equal(errno, EAGAIN);
	for (w = 0; w < sizeof(data); ) {
		n = write(p[1], data + w, sizeof(data) - w > 4096 ? 4096 : sizeof(data) - w);
		assert_true(n > 0);
		w += (size_t)n;
		while (sf_spool_fill(sp, p[0], &size) > 0)
			;
	}
	close(p[1]);
	assert_int_equal(sf_spool_fill(sp, p[0], &size), 0);   /* end of file */
	assert_true(size == sizeof(data));

	ofd = mkstemp(out);
	assert_int_equal(sf_spool_copy(rd, &off, 1000, ofd), 0);
	assert_true(off == 1000);
	assert_int_equal(sf_spool_copy(rd, &off, size, ofd), 0);
	assert_true(off == size);
	assert_int_equal(pread(ofd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(data, back, sizeof(data));
	/* Asking for more than there is must fail, not invent bytes. */
	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, size + 1, ofd), -1);
	assert_int_equal(errno, EIO);

	close(ofd);
	unlink(out);
	close(p[0]);
	close(rd);
	close(sp);
	close(dfd);
	rmdir(dir);
}

static void
copy_to_append_file_falls_back(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX", out[] = "/tmp/sf-spool-app-XXXXXX";
	uint64_t size = 0, off = 0;
	int dfd, sp, p[2], ofd;
	char buf[16];
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp = sf_spool_create(dfd);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "hello\n", 6), 6);
	assert_int_equal(sf_spool_fill(sp, p[0], &size), 6);
	ofd = mkstemp(out);
	assert_int_equal(write(ofd, "> ", 2), 2);
	close(ofd);
	ofd = open(out, O_WRONLY | O_APPEND);   /* sendfile refuses O_APPEND */
	assert_int_equal(sf_spool_copy(sp, &off, size, ofd), 0);
	close(ofd);
	ofd = open(out, O_RDONLY);
	assert_int_equal(read(ofd, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "> hello\n", 8);
	close(ofd);
	unlink(out);
	close(p[0]);
	close(p[1]);
	close(sp);
	close(dfd);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fill_and_copy),
		cmocka_unit_test(copy_to_append_file_falls_back),
	};
	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
