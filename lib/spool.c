/* spool.c — the spool file: filled by the runner, read by clients. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "clock.h"
#include "spool.h"

/* ---- making a spool ---------------------------------------------------- */

/* Does this errno of an O_TMPFILE open mean "not supported here"? */
static int
no_tmpfile(int e)
{
	return e == EOPNOTSUPP || e == EISDIR || e == EINVAL;
}

static int
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * A name nobody can guess, so nobody can take it first.  Should the kernel
 * have no entropy ready (early boot) the clock and pid stand in: O_EXCL,
 * not the name, is what makes the file ours.
 */
static void
fresh_name(char *name, size_t len, int attempt)
{
	unsigned long long r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = ((unsigned long long)sf_clock_us() << 16 ^
		    (unsigned long long)getpid() << 40 ^ (unsigned long long)attempt) *
		    0x9e3779b97f4a7c15ULL;
	snprintf(name, len, ".spool.%016llx", r);
}

/* A new file under a fresh name in dirfd, left there; its read-write fd. */
static int
create_named(int dirfd, char *name, size_t len)
{
	int fd, i;

	for (i = 0; i < 100; i++) {
		fresh_name(name, len, i);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* The unnamed file's own read-only open file description, through /proc. */
static int
reopen_readonly(int fd)
{
	char path[64];
	int rd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd != -1 && !same_file(fd, rd)) {
		close(rd);          /* not our /proc, or not our process's */
		errno = ENOENT;
		return -1;
	}
	return rd;
}

int
sf_spool_open_named(int dirfd, int fd[2])
{
	char name[32];
	int w, rd, saved;

	if ((w = create_named(dirfd, name, sizeof(name))) == -1)
		return -1;
	/*
	 * The second open goes by name, so it must find the file made above:
	 * O_NOFOLLOW refuses a symbolic link put in its place, O_NONBLOCK
	 * keeps a FIFO put there from holding us, and the inode must match.
	 */
	rd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (rd != -1 && !same_file(w, rd)) {
		close(rd);
		rd = -1;
		errno = EEXIST;
	}
	saved = errno;
	unlinkat(dirfd, name, 0);
	if (rd != -1 && fcntl(rd, F_SETFL, 0) == -1) {     /* O_NONBLOCK off */
		saved = errno;
		close(rd);
		rd = -1;
	}
	if (rd == -1) {
		close(w);
		errno = saved;
		return -1;
	}
	fd[0] = rd;
	fd[1] = w;
	return 0;
}

int
sf_spool_open(int dirfd, int fd[2])
{
	int w, rd;

	w = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w == -1)
		return no_tmpfile(errno) ? sf_spool_open_named(dirfd, fd) : -1;
	if ((rd = reopen_readonly(w)) == -1) {
		/* No /proc (a chroot, a container without it): one file may
		 * not be opened twice without a name, so it gets one. */
		close(w);
		return sf_spool_open_named(dirfd, fd);
	}
	fd[0] = rd;
	fd[1] = w;
	return 0;
}

/* ---- filling ------------------------------------------------------------ */

ssize_t
sf_spool_fill(int spoolfd, int pipefd, uint64_t *size, void *buf, size_t len)
{
	ssize_t n, w, done;

	/*
	 * read + pwrite, not splice: splice(2) holds the pipe's lock while it
	 * copies into the page cache, and a command writing small blocks then
	 * spins on that lock for the whole copy (measured: a 1 GiB flight took
	 * twice as long).  read(2) holds it only for a copy into a hot buffer.
	 */
	do
		n = read(pipefd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return n;
	for (done = 0; done < n; done += w) {
		w = pwrite(spoolfd, (char *)buf + done, (size_t)(n - done),
		    (off_t)(*size + (uint64_t)done));
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w == -1) {
			*size += (uint64_t)done;
			return -1;
		}
	}
	*size += (uint64_t)n;
	return n;
}

/* ---- copying out -------------------------------------------------------- */

/*
 * A write or a wait was interrupted, or found nothing to do: may the copy go
 * on?  Not once the deadline has passed; the signal that interrupted a
 * blocked write is how the caller makes sure we get to ask.
 */
static int
may_go_on(long long deadline)
{
	if (!sf_clock_passed(deadline))
		return 0;
	errno = ETIMEDOUT;
	return -1;
}

static int
wait_writable(int fd, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;

	while ((n = poll(&p, 1, sf_clock_left(deadline))) != 1)
		if ((n == -1 && errno != EINTR) || may_go_on(deadline) == -1)
			return -1;
	return 0;
}

/* Write len bytes of p to fd, advancing *off as they go out. */
static int
write_all(int fd, const char *p, size_t len, uint64_t *off, long long deadline)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w == -1 && errno == EINTR) {
			if (may_go_on(deadline) == -1)
				return -1;
			continue;
		}
		if (w == -1 && errno == EAGAIN) {
			if (wait_writable(fd, deadline) == -1)
				return -1;
			continue;
		}
		if (w == -1)
			return -1;
		p += w;
		len -= (size_t)w;
		*off += (uint64_t)w;
		if (len > 0 && may_go_on(deadline) == -1)
			return -1;      /* a short write: interrupted */
	}
	return 0;
}

/*
 * Where a chunk too large for one write is cut.  The other invocations of
 * the flight may write the same bytes to the same output between two of
 * our writes; a cut just after a newline keeps their lines and ours whole.
 * Only the last LINE_SCAN bytes are searched, so output without newlines
 * costs no scan of the whole window; a line longer than that is cut.
 */
#define LINE_SCAN (64 * 1024)

static size_t
whole_lines(const char *p, size_t len)
{
	size_t scan = len < LINE_SCAN ? len : LINE_SCAN;
	const char *nl = memrchr(p + len - scan, '\n', scan);

	return nl != NULL ? (size_t)(nl - p) + 1 : len;
}

/* A chunk this small is one pread and one write. */
#define BUF (64 * 1024)

/* The spool holds its first end bytes; -1 with EIO when it is shorter. */
static int
spool_holds(int spoolfd, uint64_t end)
{
	struct stat st;

	if (fstat(spoolfd, &st) == -1)
		return -1;
	if ((uint64_t)st.st_size < end) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int
copy_buffered(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	char buf[BUF];
	size_t n;
	ssize_t got;

	while (*off < end) {
		n = end - *off < BUF ? (size_t)(end - *off) : BUF;
		got = pread(spoolfd, buf, n, (off_t)*off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return -1;
		if (got == 0) {
			errno = EIO;
			return -1;
		}
		n = (size_t)got;
		if (*off + n < end)
			n = whole_lines(buf, n);
		if (write_all(outfd, buf, n, off, deadline) == -1)
			return -1;
	}
	return 0;
}

/*
 * Files and character devices get write(2) from a window mapped on the
 * spool: one copy, and the window keeps the mapping, and so RSS, small.
 * Every page of it is read, so it is populated at once rather than fault
 * by fault.
 */
#define WINDOW (1 << 20)

static int
copy_mapped(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), base, stop;
	size_t n;
	char *map;
	int rc;

	/* Touching a mapping past the end of the file is SIGBUS, not EIO. */
	if (spool_holds(spoolfd, end) == -1)
		return -1;
	while (*off < end) {
		base = *off & ~(page - 1);
		stop = base + WINDOW < end ? base + WINDOW : end;
		map = mmap(NULL, (size_t)(stop - base), PROT_READ,
		    MAP_SHARED | MAP_POPULATE, spoolfd, (off_t)base);
		if (map == MAP_FAILED)
			return copy_buffered(spoolfd, off, end, outfd, deadline);
		n = (size_t)(stop - *off);
		if (stop < end)
			n = whole_lines(map + (*off - base), n);
		rc = write_all(outfd, map + (*off - base), n, off, deadline);
		munmap(map, (size_t)(stop - base));
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Pipes and sockets take pages by reference: sendfile(2). */
static int
copy_spliced(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	off_t o;
	ssize_t n;

	while (*off < end) {
		size_t want = end - *off > (uint64_t)(INT_MAX & ~4095) ?
		    (size_t)(INT_MAX & ~4095) : (size_t)(end - *off);
		o = (off_t)*off;
		n = sendfile(outfd, spoolfd, &o, want);
		if (n > 0) {
			*off = (uint64_t)o;
			if ((size_t)n < want && may_go_on(deadline) == -1)
				return -1;      /* a short write: interrupted */
			continue;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		if (errno == EINTR) {
			if (may_go_on(deadline) == -1)
				return -1;
			continue;
		}
		if (errno == EAGAIN) {
			if (wait_writable(outfd, deadline) == -1)
				return -1;
			continue;
		}
		/* EINVAL, ENOSYS: an output sendfile cannot write to. */
		if (errno == EINVAL || errno == ENOSYS)
			return copy_buffered(spoolfd, off, end, outfd, deadline);
		return -1;
	}
	return 0;
}

/*
 * Only pipes and sockets, which have no file offset, are given to
 * sendfile(2).  To a file it reads the shared offset before it writes and
 * stores it after, outside the lock write(2) holds for the whole write, so
 * invocations sharing one `>log` wrote over each other (4 x 4 MiB left
 * 4.9 MB), and it refuses O_APPEND.  write(2) takes the offset under that
 * lock, and an O_APPEND write goes to the end as one piece.
 */
int
sf_spool_copy(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	struct stat st;

	if (*off >= end)
		return 0;
	if (fstat(outfd, &st) == -1)
		return -1;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		/* splice takes only what fits in the pipe's free slots, a few
		 * bytes across two pages included; a small write is atomic. */
		if (end - *off <= PIPE_BUF)
			return copy_buffered(spoolfd, off, end, outfd, deadline);
		return copy_spliced(spoolfd, off, end, outfd, deadline);
	}
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		/* /dev/null would discard the bytes unread: they need only
		 * be there. */
		if (spool_holds(spoolfd, end) == -1)
			return -1;
		*off = end;
		return 0;
	}
	if (end - *off <= BUF)
		return copy_buffered(spoolfd, off, end, outfd, deadline);
	return copy_mapped(spoolfd, off, end, outfd, deadline);
}
