/*
 * test_spool.c — spools: unnamed, read-only for clients, filled from a pipe,
 * copied out exactly, and whole when invocations share one output.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "spool.h"

/* Smaller than the writes below, so one write takes several fills. */
static ssize_t
fill(int sp, int pipefd, uint64_t *size)
{
	static char buf[1000];

	return sf_spool_fill(sp, pipefd, size, buf, sizeof(buf));
}

/* Entries in directory path; -1 when it cannot be read. */
static int
entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
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
	int dfd, sp, rd, p[2], ofd, fl, pair[2];
	size_t i, w;
	ssize_t n;
	(void)state;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);   /* NULs included */
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sf_spool_open(dfd, pair), 0);
	rd = pair[0];
	sp = pair[1];
	assert_true(sp > 2);
	assert_int_equal(entries(dir), 0);             /* no name, nothing left */
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
copy_to_append_file(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX", out[] = "/tmp/sf-spool-app-XXXXXX";
	uint64_t size = 0, off = 0;
	int dfd, sp, p[2], ofd, pair[2];
	char buf[16];
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sf_spool_open(dfd, pair), 0);
	close(pair[0]);
	sp = pair[1];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "hello\n", 6), 6);
	assert_int_equal(fill(sp, p[0], &size), 6);
	ofd = mkstemp(out);
	assert_int_equal(write(ofd, "> ", 2), 2);
	close(ofd);
	ofd = open(out, O_WRONLY | O_APPEND);   /* as `>>` opens it */
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

/* A spool of n patterned bytes (NULs included) filled through a pipe; its
 * writer, with the reader in *rd. */
static int
patterned_spool(int dfd, uint8_t *data, size_t n, uint64_t *size, int *rd)
{
	int sp, p[2], pair[2];
	size_t i, w;
	ssize_t k;

	assert_int_equal(sf_spool_open(dfd, pair), 0);
	*rd = pair[0];
	sp = pair[1];
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

/* A terminal gets a write from a mapping of the spool, window by window:
 * the bytes must come out the same, across window edges and from an
 * unaligned start.  /dev/null gets nothing, but a spool shorter than asked
 * must still be EIO. */
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
	sp = patterned_spool(dfd, data, N, &size, &rd);

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

/* ---- the reader is read-only, whichever way the spool was made ---------- */

/*
 * What is wrong with the spool pair fd made in dir, or NULL: the reader
 * must read only, with an offset of its own, see the writer's bytes, and no
 * name may be left behind.  A plain function, not cmocka asserts, so that a
 * forked child can use it too.
 */
static const char *
pair_problem(const char *dir, const int fd[2])
{
	struct stat st;
	char buf[8];

	if (fd[0] <= 2 || fd[1] <= 2 || fd[0] == fd[1])
		return "not two fresh descriptors";
	if (entries(dir) != 0)
		return "a name is left in the directory";
	if ((fcntl(fd[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_RDONLY)
		return "the reader is not O_RDONLY (or is O_NONBLOCK)";
	if ((fcntl(fd[1], F_GETFL) & O_ACCMODE) != O_RDWR)
		return "the writer is not O_RDWR";
	if (!(fcntl(fd[0], F_GETFD) & FD_CLOEXEC) || !(fcntl(fd[1], F_GETFD) & FD_CLOEXEC))
		return "not close-on-exec";
	if (fstat(fd[0], &st) != 0 || (st.st_mode & 07777) != 0600 || st.st_nlink != 0)
		return "not an unlinked 0600 file";
	errno = 0;
	if (write(fd[0], "x", 1) != -1 || errno != EBADF)
		return "write(2) to the reader did not fail with EBADF";
	errno = 0;
	if (pwrite(fd[0], "x", 1, 0) != -1 || errno != EBADF)
		return "pwrite(2) to the reader did not fail with EBADF";
	if (write(fd[1], "spool", 5) != 5)
		return "cannot write to the writer";
	if (read(fd[0], buf, sizeof(buf)) != 5 || memcmp(buf, "spool", 5) != 0)
		return "the reader does not read the writer's bytes from its own offset 0";
	return NULL;
}

static void
assert_good_pair(const char *dir, const int fd[2])
{
	const char *why = pair_problem(dir, fd);

	if (why != NULL)
		fail_msg("%s", why);
}

static void
open_gives_a_read_only_reader(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX";
	int dfd, fd[2];
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sf_spool_open(dfd, fd), 0);
	assert_good_pair(dir, fd);
	close(fd[0]);
	close(fd[1]);
	close(dfd);
	rmdir(dir);
}

/* The fallback for file systems without O_TMPFILE, or no /proc. */
static void
named_spool_gives_a_read_only_reader(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX";
	int dfd, fd[2], more[2], i;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sf_spool_open_named(dfd, fd), 0);
	assert_good_pair(dir, fd);
	/* Names are fresh each time: many spools at once, none left. */
	for (i = 0; i < 50; i++) {
		assert_int_equal(sf_spool_open_named(dfd, more), 0);
		close(more[0]);
		close(more[1]);
	}
	assert_int_equal(entries(dir), 0);
	close(fd[0]);
	close(fd[1]);
	close(dfd);
	rmdir(dir);
}

/*
 * A mount namespace of our own with a tmpfs over /proc, as in a chroot or
 * a container without /proc.  / is made private first, so the tmpfs can
 * never show in anybody else's namespace.
 */
static int
hide_proc(void)
{
	if (unshare(CLONE_NEWNS) == -1 && unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1)
		return -1;
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1)
		return -1;
	if (mount("none", "/proc", "tmpfs", 0, NULL) == -1)
		return -1;
	return access("/proc/self/fd", F_OK) == 0 ? -1 : 0;
}

static void
without_proc_the_reader_stays_read_only(void **state)
{
	char dir[] = "/tmp/sf-spool-XXXXXX";
	const char *why;
	int dfd, fd[2], st;
	pid_t pid;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (hide_proc() == -1)
			_exit(77);
		if (sf_spool_open(dfd, fd) == -1) {
			fprintf(stderr, "sf_spool_open: %s\n", strerror(errno));
			_exit(4);
		}
		if ((why = pair_problem(dir, fd)) != NULL) {
			fprintf(stderr, "without /proc: %s\n", why);
			_exit(5);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(dfd);
	rmdir(dir);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		skip();     /* no mount namespace to be had here */
	assert_int_equal(st, 0);
}

/* ---- invocations sharing one output ------------------------------------- */

/*
 * About cap bytes of numbered lines "c 0000042 aaaa...\n" of 11 to 303
 * bytes, in buf; returns their length.
 */
static size_t
make_lines(char *buf, size_t cap, char c)
{
	size_t n = 0, fill;
	unsigned i;

	for (i = 0;; i++) {
		fill = (i * 7919u) % 293;
		if (n + 10 + fill + 1 > cap)
			return n;
		n += (size_t)sprintf(buf + n, "%c %07u ", c, i);
		memset(buf + n, 'a' + (int)(i % 26), fill);
		n += fill;
		buf[n++] = '\n';
	}
}

/* A spool holding data; fd[0] reads it. */
static void
spool_of(int dfd, const char *data, size_t n, int fd[2])
{
	size_t w;
	ssize_t k;

	assert_int_equal(sf_spool_open(dfd, fd), 0);
	for (w = 0; w < n; w += (size_t)k) {
		k = write(fd[1], data + w, n - w);
		assert_true(k > 0);
	}
}

/*
 * Copy the spool to out as a client does, one announced chunk after
 * another, each ending at a line end (the command wrote whole lines);
 * steps[] are the chunk sizes tried, in turn (0 ends the list).
 */
static int
copy_in_chunks(int rd, const char *data, size_t n, int out, const size_t *steps)
{
	uint64_t off = 0, end;
	const char *nl;
	int i = 0;

	while (off < n) {
		end = off + steps[i];
		if (end >= n)
			end = n;
		else if ((nl = memchr(data + end, '\n', n - end)) != NULL)
			end = (uint64_t)(nl - data) + 1;
		else
			end = n;
		if (sf_spool_copy(rd, &off, end, out, -1) == -1 || off != end)
			return -1;
		if (steps[++i] == 0)
			i = 0;
	}
	return 0;
}

/*
 * out (the test's own file) must hold a's lines and b's lines, each whole,
 * each output in its order, interleaved only between lines, and nothing
 * else.
 */
static void
assert_both_whole(int out, const char *a, size_t na, const char *b, size_t nb)
{
	struct stat st;
	size_t pa = 0, pb = 0, i, len, size;
	const char *nl;
	char *got;

	assert_int_equal(fstat(out, &st), 0);
	size = (size_t)st.st_size;
	if (size != na + nb)
		fail_msg("output holds %zu bytes, not %zu + %zu", size, na, nb);
	got = malloc(size);
	assert_non_null(got);
	assert_int_equal(pread(out, got, size, 0), (ssize_t)size);
	for (i = 0; i < size; i += len) {
		nl = memchr(got + i, '\n', size - i);
		assert_non_null(nl);
		len = (size_t)(nl - (got + i)) + 1;
		if (pa + len <= na && memcmp(got + i, a + pa, len) == 0)
			pa += len;
		else if (pb + len <= nb && memcmp(got + i, b + pb, len) == 0)
			pb += len;
		else
			fail_msg("the line at byte %zu is the next line of neither output: "
			    "%.24s", i, got + i);
	}
	assert_true(pa == na && pb == nb);
	free(got);
}

/*
 * Two processes, started together, copy a 4 MiB spool each (different
 * lines) to one open file description of the same file: a `>log` shared by
 * invocations.  One copies in a single chunk (window after window), the
 * other in chunks of many sizes.
 */
static void
two_writers_share(int flags)
{
	enum { N = 4 << 20 };
	static char a[N], b[N];
	static const size_t one[] = { N, 0 };
	static const size_t many[] = { 100, 5000, 70000, 1500000, 300, 2 << 20, 0 };
	char dir[] = "/tmp/sf-spool-XXXXXX", out[PATH_MAX];
	int dfd, sa[2], sb[2], ofd, gate[2], round, st, k;
	size_t na, nb;
	pid_t pid[2];
	char c;

	na = make_lines(a, N, 'A');
	nb = make_lines(b, N, 'B');
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	spool_of(dfd, a, na, sa);
	spool_of(dfd, b, nb, sb);
	snprintf(out, sizeof(out), "%s/log", dir);
	for (round = 0; round < 4; round++) {
		ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | flags | O_CLOEXEC, 0600);
		assert_true(ofd > 2);
		assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
		for (k = 0; k < 2; k++) {
			pid[k] = fork();
			assert_true(pid[k] != -1);
			if (pid[k] == 0) {
				close(gate[1]);
				(void)!read(gate[0], &c, 1);   /* end of file: go */
				_exit(copy_in_chunks(k == 0 ? sa[0] : sb[0], k == 0 ? a : b,
				    k == 0 ? na : nb, ofd, (round + k) % 2 ? many : one) == 0 ? 0 : 1);
			}
		}
		close(gate[0]);
		close(gate[1]);     /* both start now */
		for (k = 0; k < 2; k++) {
			assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
			assert_int_equal(st, 0);
		}
		close(ofd);
		ofd = open(out, O_RDONLY | O_CLOEXEC);
		assert_both_whole(ofd, a, na, b, nb);
		close(ofd);
		unlink(out);
	}
	close(sa[0]);
	close(sa[1]);
	close(sb[0]);
	close(sb[1]);
	close(dfd);
	rmdir(dir);
}

static void
shared_file_without_append_keeps_both_outputs(void **state)
{
	(void)state;
	two_writers_share(0);
}

static void
shared_file_with_append_keeps_both_outputs(void **state)
{
	(void)state;
	two_writers_share(O_APPEND);
}

/* Fill the non-blocking pipe p[1] to the brim in 4096-byte writes, one
 * page each; returns the bytes it took. */
static size_t
fill_pipe(int p[2])
{
	static char junk[4096];
	size_t n = 0;

	memset(junk, '-', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) == (ssize_t)sizeof(junk))
		n += sizeof(junk);
	assert_int_equal(errno, EAGAIN);
	return n;
}

static void
drain_pipe(int p[2], size_t n)
{
	static char sink[4096];
	size_t got;
	ssize_t k;

	for (got = 0; got < n; got += (size_t)k) {
		k = read(p[0], sink, n - got < sizeof(sink) ? n - got : sizeof(sink));
		assert_true(k > 0);
	}
}

/*
 * A small chunk goes to a pipe in one write(2), which POSIX makes atomic:
 * with a single page's slot free, 100 bytes that straddle two pages of the
 * spool arrive together (splice would have moved those of the first page
 * only, and another writer's bytes could follow them).
 */
static void
small_chunk_to_a_pipe_is_one_write(void **state)
{
	enum { N = 10000 };
	char dir[] = "/tmp/sf-spool-XXXXXX";
	static uint8_t data[N];
	uint8_t back[100];
	uint64_t size = 0, off = 4050;
	int dfd, sp, rd, p[2];
	size_t junk;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp = patterned_spool(dfd, data, N, &size, &rd);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	junk = fill_pipe(p);
	drain_pipe(p, 4096);                    /* one slot free */
	/* The deadline has passed: nothing may wait for room. */
	assert_int_equal(sf_spool_copy(rd, &off, 4150, p[1], sf_clock_ms()), 0);
	assert_true(off == 4150);
	drain_pipe(p, junk - 4096);
	assert_int_equal(read(p[0], back, sizeof(back)), 100);
	assert_memory_equal(back, data + 4050, 100);
	close(p[0]);
	close(p[1]);
	close(rd);
	close(sp);
	close(dfd);
	rmdir(dir);
}

/*
 * The deadline: a copy to a full non-blocking pipe stops at it with
 * ETIMEDOUT, whether the chunk is small (write) or large (sendfile), and
 * *off says what went out.
 */
static void
copy_to_a_full_pipe_stops_at_the_deadline(void **state)
{
	enum { N = 300000 };
	char dir[] = "/tmp/sf-spool-XXXXXX";
	static uint8_t data[N], back[N];
	uint64_t size = 0, off = 0;
	int dfd, sp, rd, p[2];
	size_t junk, got;
	ssize_t k;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp = patterned_spool(dfd, data, N, &size, &rd);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	junk = fill_pipe(p);

	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, 100, p[1], sf_clock_ms()), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(off == 0);
	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, size, p[1], sf_clock_ms()), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(off == 0);

	/* Room for part of it: that part goes, in order, and no more. */
	drain_pipe(p, junk);
	errno = 0;
	assert_int_equal(sf_spool_copy(rd, &off, size, p[1], sf_clock_ms()), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(off > 0 && off < size);
	for (got = 0; (k = read(p[0], back + got, N - got)) > 0; got += (size_t)k)
		;
	assert_true(got == off);
	assert_memory_equal(back, data, got);

	close(p[0]);
	close(p[1]);
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
		cmocka_unit_test(copy_to_append_file),
		cmocka_unit_test(copy_to_character_devices),
		cmocka_unit_test(open_gives_a_read_only_reader),
		cmocka_unit_test(named_spool_gives_a_read_only_reader),
		cmocka_unit_test(without_proc_the_reader_stays_read_only),
		cmocka_unit_test(shared_file_without_append_keeps_both_outputs),
		cmocka_unit_test(shared_file_with_append_keeps_both_outputs),
		cmocka_unit_test(small_chunk_to_a_pipe_is_one_write),
		cmocka_unit_test(copy_to_a_full_pipe_stops_at_the_deadline),
	};
	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
