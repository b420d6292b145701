/* order.c — replaying a flight's order index; see order.h and proto.h. */
#include <errno.h>
#include <unistd.h>

#include "order.h"

void
sf_order_init(struct sf_order *o)
{
	o->fd = -1;
	o->end = o->done = 0;
	o->cur = -1;
	o->at = o->have = 0;
}

/* Read the announced records from done on, as many as buf holds. */
static int
refill(struct sf_order *o)
{
	size_t want = sizeof(o->buf);
	ssize_t n;

	if (o->end - o->done < want)
		want = (size_t)(o->end - o->done);
	o->at = o->have = 0;
	while (o->have < want) {
		if (o->fd == -1) {
			errno = EPROTO;         /* announced, never handed over */
			return -1;
		}
		n = pread(o->fd, o->buf + o->have, want - o->have,
		    (off_t)(o->done + o->have));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		o->have += (size_t)n;
	}
	return 0;
}

int
sf_order_next(struct sf_order *o, const uint64_t pos[2],
    const uint64_t avail[2], int *s, uint64_t *upto)
{
	uint64_t end;
	int st, t;

	/* Runs that a record has closed, oldest first. */
	while (o->done < o->end) {
		if (o->at == o->have && refill(o) == -1)
			return -1;
		if (sf_proto_order_get(o->buf + o->at, &st, &end) == -1)
			return -1;
		t = st - 1;
		if (end < pos[t]) {
			errno = EPROTO;
			return -1;
		}
		if (pos[t] < end) {
			/* The record may come before the DATA of the bytes
			 * it closes (announcements coalesce): wait for it. */
			if (avail[t] <= pos[t])
				return 0;
			*s = t;
			*upto = avail[t] < end ? avail[t] : end;
			return 1;
		}
		o->at += SF_ORDER_RECORD;
		o->done += SF_ORDER_RECORD;
		o->cur = 1 - t;
	}
	/* The open run: the other stream of the last record, or before any
	 * record, the one stream that has bytes. */
	if (o->cur == -1) {
		if (avail[0] > pos[0] && avail[1] > pos[1])
			return 0;       /* its record is on the way */
		if (avail[0] > pos[0])
			o->cur = 0;
		else if (avail[1] > pos[1])
			o->cur = 1;
		else
			return 0;
	}
	if (avail[o->cur] <= pos[o->cur])
		return 0;
	*s = o->cur;
	*upto = avail[o->cur];
	return 1;
}
