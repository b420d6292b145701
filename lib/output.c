/* output.c — the runner's spools of a flight; see output.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.h"
#include "proto.h"
#include "spool.h"

/* What one read of a pipe may take: a quarter of a 1 MiB pipe, so the
 * command can go on writing the rest while the runner copies. */
static unsigned char fill_buf[1 << 18];

int
sf_output_init(struct sf_output *o, int dirfd)
{
	int s, i, null;

	o->dirfd = dirfd;
	o->last = o->failed = -1;
	for (s = 0; s < SF_OUT_SPOOLS; s++) {
		o->spool[s] = o->reader[s] = -1;
		o->size[s] = o->told[s] = 0;
		o->reserve[s][0] = o->reserve[s][1] = -1;
	}
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (s = 0; s < SF_OUT_ORDER; s++)
		for (i = 0; i < 2; i++)
			if ((o->reserve[s][i] = fcntl(null, F_DUPFD_CLOEXEC, 3)) == -1) {
				close(null);
				sf_output_free(o);
				return -1;
			}
	close(null);
	return 0;
}

int
sf_output_reserve_order(struct sf_output *o)
{
	int *r = o->reserve[SF_OUT_ORDER];

	if (o->spool[SF_OUT_ORDER] != -1 || r[0] != -1)
		return 0;
	if ((r[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((r[1] = fcntl(r[0], F_DUPFD_CLOEXEC, 3)) == -1) {
		close(r[0]);
		r[0] = -1;
		return -1;
	}
	return 0;
}

bool
sf_output_pending(int fd)
{
	int n;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static int
make_spool(struct sf_output *o, int s)
{
	int fd[2], i;

	/* The reserve gives back the two descriptors the spool takes. */
	for (i = 0; i < 2; i++)
		if (o->reserve[s][i] != -1)
			close(o->reserve[s][i]);
	o->reserve[s][0] = o->reserve[s][1] = -1;
	if (sf_spool_open(o->dirfd, fd) == -1)
		return -1;
	o->reader[s] = fd[0];
	o->spool[s] = fd[1];
	return 0;
}

/*
 * The run of the stream read last is over: say where it ended.  A record
 * is written whole or not counted (a short write means the file cannot
 * grow), so the index is always a whole number of records.
 */
static int
switch_to(struct sf_output *o, int s)
{
	uint8_t rec[SF_ORDER_RECORD];
	ssize_t n;
	int t = o->last;

	if (t == -1 || t == s) {
		o->last = s;
		return 0;
	}
	if (o->spool[SF_OUT_ORDER] == -1 && make_spool(o, SF_OUT_ORDER) == -1)
		return -1;
	sf_proto_order_put(rec, t + 1, o->size[t]);
	o->told[t] = o->size[t];    /* the index describes it all: tell it */
	do
		n = pwrite(o->spool[SF_OUT_ORDER], rec, sizeof(rec),
		    (off_t)o->size[SF_OUT_ORDER]);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(rec)) {
		if (n >= 0)
			errno = ENOSPC;
		return -1;
	}
	o->size[SF_OUT_ORDER] += sizeof(rec);
	o->told[SF_OUT_ORDER] = o->size[SF_OUT_ORDER];
	o->last = s;
	return 0;
}

/*
 * What of stream s clients may copy now, n being the last read: all of it,
 * unless the read was cut short by its size (the pipe still holds bytes),
 * when a line the command wrote whole may be split across the cut.  Then
 * only up to the last newline of that read; the rest goes with the next.
 * Only the end of the read is searched (as clients cut their writes,
 * spool.c): a line longer than that is cut anyway, and output without
 * newlines costs no scan of the whole read.
 */
#define LINE_SCAN (64 * 1024)

static void
tell(struct sf_output *o, int s, int pipefd, ssize_t n)
{
	const unsigned char *end = fill_buf + sizeof(fill_buf), *nl;

	o->told[s] = o->size[s];
	if (n != (ssize_t)sizeof(fill_buf) || !sf_output_pending(pipefd))
		return;
	if ((nl = memrchr(end - LINE_SCAN, '\n', LINE_SCAN)) != NULL)
		o->told[s] -= (size_t)(end - nl) - 1;
}

ssize_t
sf_output_fill(struct sf_output *o, int s, int pipefd, size_t max)
{
	struct pollfd p = { .fd = pipefd, .events = POLLIN };
	uint64_t before = o->size[s];
	ssize_t n;
	int avail = 0, saved;

	/* A silent stream costs no file: the spool waits for a first byte. */
	if (o->spool[s] == -1) {
		if (ioctl(pipefd, FIONREAD, &avail) == 0 && avail == 0) {
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
				return 0;
			errno = EAGAIN;
			return -1;
		}
		if (make_spool(o, s) == -1) {
			o->failed = s;
			return -1;
		}
	}
	do
		n = sf_spool_fill(o->spool[s], pipefd, &o->size[s], fill_buf,
		    sizeof(fill_buf));
	while (n == (ssize_t)sizeof(fill_buf) && o->size[s] - before < max);
	saved = errno;
	if (n == -1 && saved != EAGAIN && saved != EINTR)
		o->failed = s;
	tell(o, s, pipefd, n);
	if (o->size[s] > before && switch_to(o, s) == -1) {
		if (o->failed == -1)
			o->failed = SF_OUT_ORDER;
		return -1;
	}
	errno = saved;
	if (o->size[s] > before && (n > 0 || (n == -1 && errno == EAGAIN)))
		return (ssize_t)(o->size[s] - before);
	return n;
}

int
sf_output_append(struct sf_output *o, int s, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	if (len == 0)
		return 0;
	if (o->spool[s] == -1 && make_spool(o, s) == -1) {
		o->failed = s;
		return -1;
	}
	while (len > 0) {
		n = pwrite(o->spool[s], p, len, (off_t)o->size[s]);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			o->failed = s;
			return -1;
		}
		o->size[s] += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	o->told[s] = o->size[s];
	if (switch_to(o, s) == -1) {
		o->failed = SF_OUT_ORDER;
		return -1;
	}
	return 0;
}

void
sf_output_free(struct sf_output *o)
{
	int s, i;

	for (s = 0; s < SF_OUT_SPOOLS; s++) {
		if (o->spool[s] != -1)
			close(o->spool[s]);
		if (o->reader[s] != -1)
			close(o->reader[s]);
		for (i = 0; i < 2; i++)
			if (o->reserve[s][i] != -1)
				close(o->reserve[s][i]);
		o->spool[s] = o->reader[s] = o->reserve[s][0] = o->reserve[s][1] = -1;
	}
}
