/*
 * output.h — a flight's output as the runner keeps it: one spool per
 * stream (spool.h), made on the stream's first byte, the order index that
 * says how the two streams interleave (proto.h), made on the first switch
 * from one stream to the other, and the sizes that clients are told.
 * Sources of output append here; the hub reads the sizes and hands out the
 * read-only spools.
 */
#ifndef SF_OUTPUT_H
#define SF_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The spools, indexed as proto.h's enum sf_stream minus one. */
enum { SF_OUT_STDOUT, SF_OUT_STDERR, SF_OUT_ORDER, SF_OUT_SPOOLS };

struct sf_output {
	int dirfd;                  /* where spools are made */
	int spool[SF_OUT_SPOOLS];   /* read-write; -1 until made */
	int reader[SF_OUT_SPOOLS];  /* read-only, what clients get; -1 */
	int reserve[SF_OUT_SPOOLS][2]; /* held for spool s and its reader */
	uint64_t size[SF_OUT_SPOOLS];  /* bytes in each spool */
	uint64_t told[SF_OUT_SPOOLS];  /* of those, what clients may copy */
	int last;                   /* stream read last (0, 1); -1 before any */
	int failed;                 /* the spool that could not grow, or -1 */
};

/*
 * sf_output_init — an empty output in dirfd.  Two descriptors per stream
 * are held back (duplicates of /dev/null) so that clients taking every
 * other descriptor cannot keep a stream from getting its spool.  Returns 0
 * or -1/errno.
 */
int sf_output_init(struct sf_output *o, int dirfd);

/*
 * sf_output_reserve_order — hold back two descriptors for the order index
 * too.  Separate so that the caller can do it once the source is set up
 * (sf_command_start takes six descriptors at its peak, three for good):
 * under a tight descriptor limit the index must not cost the command its
 * pipes.  Without them the index is made when needed, if it can be.
 * Returns 0 or -1/errno.
 */
int sf_output_reserve_order(struct sf_output *o);

/*
 * sf_output_fill — move up to max bytes waiting on the non-blocking pipe
 * into stream s (0 stdout, 1 stderr), making its spool on the first byte,
 * and set what clients are told of it.  That is all of it, except when the
 * read stopped at max with more waiting in the pipe: then only up to the
 * last newline, so that invocations sharing one output file never cut a
 * line the command wrote whole (the rest is told with the next read).
 * When s is not the stream read last, a record saying where that one's run
 * ended goes to the order index first, so the caller announces nothing
 * that the index does not describe yet.  Returns the bytes moved (> 0), 0
 * at end of file, or -1 with errno: EAGAIN nothing waiting; EFBIG, ENOSPC,
 * EMFILE, ... a spool cannot grow, failed says which (what was moved before
 * the error is counted in size).
 */
ssize_t sf_output_fill(struct sf_output *o, int s, int pipefd, size_t max);

/*
 * sf_output_append — append len bytes from buf to stream s, all of them
 * told, as if read from its pipe (another host's output, fleet.h).
 * Returns 0, or -1 with errno and failed set, like sf_output_fill.
 */
int sf_output_append(struct sf_output *o, int s, const void *buf, size_t len);

/* sf_output_pending — are there bytes waiting in the pipe? */
bool sf_output_pending(int pipefd);

/* sf_output_free — close every descriptor (clients keep their readers). */
void sf_output_free(struct sf_output *o);

#endif
