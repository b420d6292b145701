/*
 * spool.h — output kept for late joiners.
 *
 * The runner writes each of the command's streams once into its own spool, an
 * unnamed file (O_TMPFILE) in the runtime directory, and hands every client a
 * read-only descriptor for it.  Clients copy from the spool to their own
 * stdout or stderr with sendfile(2), so bytes are not pushed through the
 * runner once per client, a joiner starts from byte 0 however late it comes,
 * and memory stays flat whatever the output size.  The file has no name, so
 * it disappears with its last descriptor: nothing is left behind by a crash.
 */
#ifndef SF_SPOOL_H
#define SF_SPOOL_H

#include <stdint.h>
#include <sys/types.h>

/* sf_spool_create — a new empty read-write spool in dirfd; -1/errno. */
int sf_spool_create(int dirfd);

/* sf_spool_reader — a read-only descriptor of the same file; -1/errno. */
int sf_spool_reader(int spoolfd);

/*
 * sf_spool_fill — move up to len bytes of what is available on the
 * non-blocking pipe into the spool at *size, through buf, advancing *size by
 * what was written.  Returns the bytes moved (> 0), 0 at end of file, or -1
 * with errno (EAGAIN when the pipe is empty; EFBIG, ENOSPC when the spool
 * cannot grow).
 */
ssize_t sf_spool_fill(int spoolfd, int pipefd, uint64_t *size, void *buf,
    size_t len);

/*
 * sf_spool_copy — write the spool's bytes [*off, end) to outfd and advance
 * *off.  Blocks until done (it waits for a non-blocking outfd to drain), or
 * until deadline (clock.h; -1: none): a
 * wait for a non-blocking outfd ends there, and a blocked write that a
 * signal interrupts after it (sfexec arms one) stops the copy.  Returns 0,
 * or -1 with errno (ETIMEDOUT, EPIPE, EIO when the spool is shorter than
 * end, ...) and *off at the first byte not written.
 */
int sf_spool_copy(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline);


#endif
