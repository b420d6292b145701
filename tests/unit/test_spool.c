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
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

/* Smaller than the writes below, so one write takes several fills. */
static ssize_t
fill(int sp, int pipefd, uint64_t *size)
{
	static char buf[1000];

	return sf_spool_fill(sp, pipefd, size, buf, sizeof(buf));
}

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
	assert_int_equal(fill(sp, p[0], &size), -1);
	assert_int_equal(errno, EAGAIN);
	for (w = 0; w < sizeof(data); ) {
		n = write(p[1], data + w, sizeof(data) - w > 4096 ? 4096 : sizeof(data) - w);
		assert_true(n > 0);
		w += (size_t)n;
		while (fill(sp, p[0], &size) > 0)
			;
	}
	close(p[1]);
	assert_int_equal(fill(sp, p[0], &size), 0);   /* end of file */
	assert_true(size == sizeof(data));

	ofd = mkstemp(out);
	assert_int_equal(sf_spool_copy(rd, &off, 1000, ofd, -1), 0);
	assert_true(off == 1000);
	assert_int_equal(sf_spool_copy(rd, &off, size, ofd, -1), 0);
	assert_true(off == size);
	assert_int_equal(pread(ofd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(data, back, sizeof(data));
	/* Asking for more than there is must fail, not invent bytes. */
	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, size + 1, ofd, -1), -1);
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
	assert_int_equal(fill(sp, p[0], &size), 6);
	ofd = mkstemp(out);
	assert_int_equal(write(ofd, "> ", 2), 2);
	close(ofd);
	ofd = open(out, O_WRONLY | O_APPEND);   /* sendfile refuses O_APPEND */
	assert_int_equal(sf_spool_copy(sp, &off, size, ofd, -1), 0);
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

/* A spool of n patterned bytes (NULs included) filled through a pipe. */
static int
patterned_spool(int dfd, uint8_t *data, size_t n, uint64_t *size)
{
	int sp = sf_spool_create(dfd), p[2];
	size_t i, w;
	ssize_t k;

	assert_true(sp > 2);
	for (i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 13 + i / 4093);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	for (w = 0; w < n; w += (size_t)k) {
		k = write(p[1], data + w, n - w > 65536 ? 65536 : n - w);
		assert_true(k > 0);
		while (fill(sp, p[0], size) > 0)
			;
	}
	close(p[0]);
	close(p[1]);
	assert_true(*size == n);
	return sp;
}

/* Character devices get a write from a mapping of the spool, window by
 * window: the bytes must come out the same, across window edges and from an
 * unaligned start, and a spool shorter than asked must still be EIO. */
static void
copy_to_character_devices(void **state)
{
	enum { N = 3 * 1024 * 1024 + 4321 };
	char dir[] = "/tmp/sf-spool-XXXXXX";
	static uint8_t data[N], back[N];
	struct termios t;
	uint64_t size = 0, off;
	int dfd, sp, rd, null, master, slave, st;
	size_t got;
	ssize_t k;
	pid_t pid;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp = patterned_spool(dfd, data, N, &size);
	rd = sf_spool_reader(sp);

	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	off = 12345;
	assert_int_equal(sf_spool_copy(rd, &off, size, null, -1), 0);
	assert_true(off == size);
	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, size + 1, null, -1), -1);
	assert_int_equal(errno, EIO);
	assert_true(off == size);
	close(null);

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master > 2);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(slave > 2);
	assert_int_equal(tcgetattr(slave, &t), 0);
	cfmakeraw(&t);
	assert_int_equal(tcsetattr(slave, TCSANOW, &t), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		/* The terminal's buffer is small: a child writes while the
		 * parent reads. */
		off = 1000;
		_exit(sf_spool_copy(rd, &off, size, slave, -1) == 0 && off == size ? 0 : 1);
	}
	close(slave);
	for (got = 0; got < N - 1000; got += (size_t)k) {
		k = read(master, back + got, N - 1000 - got);
		if (k == -1 && errno == EINTR)
			k = 0;
		assert_true(k > 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_memory_equal(data + 1000, back, N - 1000);

	close(master);
	close(rd);
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
		cmocka_unit_test(copy_to_character_devices),
	};
	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
