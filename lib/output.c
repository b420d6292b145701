/* output.c — the runner's spools of a flight; see output.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.h"
#include "spool.h"

/* What one read of a pipe may take: a quarter of a 1 MiB pipe, so the
 * command can go on writing the rest while the runner copies. */
static unsigned char fill_buf[1 << 18];

int
sf_output_init(struct sf_output *o, int dirfd)
{
	int s, i, null;

	o->dirfd = dirfd;
	for (s = 0; s < 2; s++) {
		o->spool[s] = o->reader[s] = -1;
		o->size[s] = 0;
		o->reserve[s][0] = o->reserve[s][1] = -1;
	}
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (s = 0; s < 2; s++)
		for (i = 0; i < 2; i++)
			if ((o->reserve[s][i] = fcntl(null, F_DUPFD_CLOEXEC, 3)) == -1) {
				close(null);
				sf_output_free(o);
				return -1;
			}
	close(null);
	return 0;
}

static int
make_spool(struct sf_output *o, int s)
{
	int saved;

	close(o->reserve[s][0]);
	close(o->reserve[s][1]);
	o->reserve[s][0] = o->reserve[s][1] = -1;
	if ((o->spool[s] = sf_spool_create(o->dirfd)) == -1)
		return -1;
	if ((o->reader[s] = sf_spool_reader(o->spool[s])) == -1) {
		saved = errno;
		close(o->spool[s]);
		o->spool[s] = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

ssize_t
sf_output_fill(struct sf_output *o, int s, int pipefd, size_t max)
{
	struct pollfd p = { .fd = pipefd, .events = POLLIN };
	uint64_t before = o->size[s];
	ssize_t n;
	int avail = 0;

	/* A silent stream costs no file: the spool waits for a first byte. */
	if (o->spool[s] == -1) {
		if (ioctl(pipefd, FIONREAD, &avail) == 0 && avail == 0) {
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
				return 0;
			errno = EAGAIN;
			return -1;
		}
		if (make_spool(o, s) == -1)
			return -1;
	}
	do
		n = sf_spool_fill(o->spool[s], pipefd, &o->size[s], fill_buf,
		    sizeof(fill_buf));
	while (n == (ssize_t)sizeof(fill_buf) && o->size[s] - before < max);
	if (o->size[s] > before && (n > 0 || (n == -1 && errno == EAGAIN)))
		return (ssize_t)(o->size[s] - before);
	return n;
}

void
sf_output_free(struct sf_output *o)
{
	int s, i;

	for (s = 0; s < 2; s++) {
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
