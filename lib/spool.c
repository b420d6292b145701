/* spool.c — the spool file: filled by the runner, read by clients. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "spool.h"

int
sf_spool_create(int dirfd)
{
	char name[32];
	int fd, i;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* No O_TMPFILE on this file system: a fresh name, removed at once. */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), ".spool.%08lx", (unsigned long)random());
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1) {
			unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

int
sf_spool_reader(int spoolfd)
{
	char path[64];
	int fd;

	/* Re-opening through /proc gives a descriptor with its own, read-only
	 * open file description even though the file has no name. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", spoolfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		fd = fcntl(spoolfd, F_DUPFD_CLOEXEC, 3);
	return fd;
}

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

static int
copy_buffered(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	char buf[65536];
	ssize_t n;

	while (*off < end) {
		size_t want = end - *off < sizeof(buf) ? (size_t)(end - *off) : sizeof(buf);
		n = pread(spoolfd, buf, want, (off_t)*off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		if (write_all(outfd, buf, (size_t)n, off, deadline) == -1)
			return -1;
	}
	return 0;
}

/*
 * A character device (a terminal, /dev/null) takes no pages by reference:
 * sendfile(2) to it either fails (no splice_write: then pread + write, two
 * copies) or walks every page for nothing (/dev/null).  A write from a
 * mapping of the spool is one copy, and none at all for /dev/null, which
 * never reads its buffer.  The window keeps the mapping, and so RSS, small.
 */
#define WINDOW (1 << 20)

static int
copy_mapped(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	struct stat st;
	uint64_t base, stop;
	char *map;
	int rc;

	/* Touching a mapping past the end of the file is SIGBUS, not EIO. */
	if (fstat(spoolfd, &st) == -1)
		return -1;
	if ((uint64_t)st.st_size < end) {
		errno = EIO;
		return -1;
	}
	while (*off < end) {
		base = *off & ~(uint64_t)(WINDOW - 1);
		stop = base + WINDOW < end ? base + WINDOW : end;
		map = mmap(NULL, (size_t)(stop - base), PROT_READ, MAP_SHARED,
		    spoolfd, (off_t)base);
		if (map == MAP_FAILED)
			return copy_buffered(spoolfd, off, end, outfd, deadline);
		rc = write_all(outfd, map + (*off - base), (size_t)(stop - *off), off,
		    deadline);
		munmap(map, (size_t)(stop - base));
		if (rc == -1)
			return -1;
	}
	return 0;
}

int
sf_spool_copy(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline)
{
	struct stat st;
	off_t o;
	ssize_t n;

	if (*off < end && fstat(outfd, &st) == 0 && S_ISCHR(st.st_mode))
		return copy_mapped(spoolfd, off, end, outfd, deadline);
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
		/* EINVAL, ENOSYS: an output sendfile cannot write to (a file
		 * opened O_APPEND, some terminals, old kernels). */
		if (errno == EINVAL || errno == ENOSYS)
			return copy_buffered(spoolfd, off, end, outfd, deadline);
		return -1;
	}
	return 0;
}
