/* spool.c — the spool file: filled by the runner, read by clients. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

#define CHUNK (1 << 20)

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
sf_spool_fill(int spoolfd, int pipefd, uint64_t *size)
{
	char buf[65536];
	loff_t off = (loff_t)*size;
	ssize_t n, w, done;

	do
		n = splice(pipefd, NULL, spoolfd, &off, CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n >= 0) {
		*size = (uint64_t)off;
		return n;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* The spool's file system cannot splice: copy through a buffer. */
	do
		n = read(pipefd, buf, sizeof(buf));
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return n;
	for (done = 0; done < n; done += w) {
		w = pwrite(spoolfd, buf + done, (size_t)(n - done), (off_t)*size + done);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w == -1)
			return -1;
	}
	*size += (uint64_t)n;
	return n;
}

static int
wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	while (poll(&p, 1, -1) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int
copy_buffered(int spoolfd, uint64_t *off, uint64_t end, int outfd)
{
	char buf[65536];
	ssize_t n, w, done;

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
		for (done = 0; done < n; ) {
			w = write(outfd, buf + done, (size_t)(n - done));
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1 && errno == EAGAIN) {
				if (wait_writable(outfd) == -1)
					return -1;
				continue;
			}
			if (w == -1)
				return -1;
			done += w;
			*off += (uint64_t)w;
		}
	}
	return 0;
}

int
sf_spool_copy(int spoolfd, uint64_t *off, uint64_t end, int outfd)
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
			continue;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (wait_writable(outfd) == -1)
				return -1;
			continue;
		}
		/* EINVAL, ENOSYS: an output sendfile cannot write to (a file
		 * opened O_APPEND, some terminals, old kernels). */
		if (errno == EINVAL || errno == ENOSYS)
			return copy_buffered(spoolfd, off, end, outfd);
		return -1;
	}
	return 0;
}
