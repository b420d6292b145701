/*
 * output.h — a flight's output as the runner keeps it: one spool per
 * stream (spool.h), made on the stream's first byte, and the sizes that
 * clients are told.  Sources of output append here; the hub reads the
 * sizes and hands out the read-only spools.
 */
#ifndef SF_OUTPUT_H
#define SF_OUTPUT_H

#include <stdint.h>
#include <sys/types.h>

struct sf_output {
	int dirfd;                  /* where spools are made */
	int spool[2];               /* read-write, [0] stdout, [1] stderr; -1 */
	int reader[2];              /* read-only, what clients get; -1 */
	int reserve[2][2];          /* held for stream s's spool and reader */
	uint64_t size[2];           /* bytes in each spool */
};

/*
 * sf_output_init — an empty output in dirfd.  Two descriptors per stream
 * are held back (duplicates of /dev/null) so that clients taking every
 * other descriptor cannot keep a stream from getting its spool.  Returns 0
 * or -1/errno.
 */
int sf_output_init(struct sf_output *o, int dirfd);

/*
 * sf_output_fill — move up to max bytes waiting on the non-blocking pipe
 * into stream s (0 stdout, 1 stderr), making its spool on the first byte.
 * Returns the bytes moved (> 0), 0 at end of file, or -1 with errno: EAGAIN
 * nothing waiting; EFBIG, ENOSPC, EMFILE, ... the stream cannot grow (what
 * was moved before the error is counted in size).
 */
ssize_t sf_output_fill(struct sf_output *o, int s, int pipefd, size_t max);

/* sf_output_free — close every descriptor (clients keep their readers). */
void sf_output_free(struct sf_output *o);

#endif
