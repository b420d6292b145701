/*
 * order.h — an invocation's reading of a flight's order index (proto.h):
 * which of the two streams to write next, and up to where, so that one
 * output gets both in the order the runner read them.  It reads and checks
 * the records (through proto.c, the only code that parses a peer's bytes);
 * the caller copies the bytes and keeps count of them.
 */
#ifndef SF_ORDER_H
#define SF_ORDER_H

#include <stdint.h>
#include <stddef.h>

#include "proto.h"

struct sf_order {
	int fd;                     /* the index spool, read-only; -1 */
	uint64_t end;               /* index bytes announced */
	uint64_t done;              /* index bytes whose records are used up */
	int cur;                    /* stream of the open run (0, 1); -1 not known */
	size_t at, have;            /* buf[at, have) is the index from done on */
	uint8_t buf[64 * SF_ORDER_RECORD];
};

/* sf_order_init — no index yet (fd -1, nothing announced). */
void sf_order_init(struct sf_order *o);

/*
 * sf_order_next — the next step of writing both streams as one: pos[s] of
 * stream s's bytes are written, avail[s] are announced (0 stdout, 1
 * stderr).  Returns 1 with *s and *upto > pos[*s]: write stream *s up to
 * upto next; 0 when nothing more may be written before more is announced;
 * -1 with errno EPROTO for a record that is garbled or goes back, EIO for an
 * index shorter than announced, or pread(2)'s.  Never blocks but for the
 * pread of the index.
 */
int sf_order_next(struct sf_order *o, const uint64_t pos[2],
    const uint64_t avail[2], int *s, uint64_t *upto);

#endif
