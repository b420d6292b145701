/*
 * spool.h — output kept for late joiners.
 *
 * The runner writes each of the command's streams once into its own spool, an
 * unnamed file in the runtime directory, and hands every client a read-only
 * descriptor for it.  Clients copy from the spool to their own stdout or
 * stderr, so bytes are not pushed through the runner once per client, a
 * joiner starts from byte 0 however late it comes, and memory stays flat
 * whatever the output size.  The file has no name once made, so it
 * disappears with its last descriptor: nothing is left behind by a crash.
 */
#ifndef SF_SPOOL_H
#define SF_SPOOL_H

#include <stdint.h>
#include <sys/types.h>

/*
 * sf_spool_open — a new empty spool in dirfd as two descriptors, each with
 * an open file description of its own and close-on-exec, ordered as
 * pipe(2) orders them: fd[0] reads only (what clients get: none of them can
 * write into everyone's output), fd[1] reads and writes (the runner's).
 * An O_TMPFILE file reopened read-only through /proc/self/fd where both
 * work; otherwise sf_spool_open_named.  Returns 0, or -1 with errno and
 * nothing left open, and never a writable fd[0].  Takes two descriptors at
 * its peak.
 */
int sf_spool_open(int dirfd, int fd[2]);

/*
 * sf_spool_open_named — sf_spool_open without O_TMPFILE or /proc: a fresh
 * random name (getrandom(2)) created O_EXCL|O_NOFOLLOW, mode 0600, opened
 * a second time O_RDONLY|O_NOFOLLOW, checked to be the same file, and
 * removed before this returns.  dirfd must be a directory only its owner
 * can write to (the runtime directory): between the two opens the name is
 * there to see.  -1 with errno EEXIST when the name no longer led to the
 * file just made.  Exposed so that tests exercise it on any system.
 */
int sf_spool_open_named(int dirfd, int fd[2]);

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
 * until deadline (clock.h; -1: none): a wait for a non-blocking outfd ends
 * there, and a blocked write that a signal interrupts after it (sfexec arms
 * one) stops the copy.  Returns 0, or -1 with errno (ETIMEDOUT, EPIPE, EIO
 * when the spool is shorter than end, ...) and *off at the first byte not
 * written.
 *
 * Many invocations may share one open file description of outfd (a log
 * opened once with `>` or `>>`, a pipe, a terminal): each one's bytes
 * arrive whole, and each chunk in as few pieces as the output allows.
 * Files and terminals get write(2), which moves a shared file offset under
 * its lock (sendfile(2) does not: writers overwrote each other): one write
 * per chunk, or, for a chunk larger than the 1 MiB window, one per window
 * cut after its last newline.  Pipes, FIFOs and sockets get a chunk of at
 * most PIPE_BUF bytes in one write(2), atomic on a pipe, and larger chunks
 * through sendfile(2), which other writers may interleave with wherever
 * the pipe fills.  Nothing is written to /dev/null.
 */
int sf_spool_copy(int spoolfd, uint64_t *off, uint64_t end, int outfd,
    long long deadline);

#endif
