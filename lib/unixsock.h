/*
 * unixsock.h — the key's Unix socket, written once for both sides: its
 * address, bind and connect through the runtime directory, the peer's
 * credentials, and descriptor passing with SCM_RIGHTS.
 *
 * Every socket is made close-on-exec, and every received descriptor too
 * (MSG_CMSG_CLOEXEC).  Nothing here follows a symbolic link in the runtime
 * directory: the name is checked with fstatat(AT_SYMLINK_NOFOLLOW) before a
 * connect, and only what we bound ourselves is ever removed.
 */
#ifndef SF_UNIXSOCK_H
#define SF_UNIXSOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

/*
 * sf_unixsock_addr — the address of name in the directory dirfd (whose path
 * is dir).  A path that does not fit sun_path is reached through
 * /proc/self/fd/DIRFD/name instead, so any directory works; it is never
 * truncated: -1 with ENAMETOOLONG (cause set) when neither fits.
 */
int sf_unixsock_addr(struct sockaddr_un *sa, int dirfd, const char *dir,
    const char *name, char *cause, size_t causelen);

/*
 * sf_unixsock_listen — bind name in dirfd and listen.  *bound gets the
 * socket file's identity, for sf_unixsock_unlink.  Returns the socket, or
 * -1 with errno and cause.
 */
int sf_unixsock_listen(int dirfd, const char *dir, const char *name,
    struct stat *bound, char *cause, size_t causelen);

/*
 * sf_unixsock_unlink — remove name from dirfd if it is still the socket
 * that was bound (another flight's socket, or a planted file, stays).
 * Returns 0 when removed, -1 otherwise.
 */
int sf_unixsock_unlink(int dirfd, const char *name, const struct stat *bound);

/*
 * sf_unixsock_rename — give name in dirfd the name newname, if it is still
 * the socket that was bound, and if nothing has newname yet.  A listening
 * socket keeps listening under its new name.  0, or -1/errno.
 */
int sf_unixsock_rename(int dirfd, const char *name, const struct stat *bound,
    const char *newname);

/*
 * sf_unixsock_connect — connect to name in dirfd, without following a
 * symbolic link, and check that the peer is this user.  Returns the
 * socket, or -1 with errno: ENOENT (nothing there), ECONNREFUSED (a socket
 * nobody listens on), ENOTSOCK (something else is there: stale), EPERM
 * (the listener is another user; cause says who), others from the system.
 */
int sf_unixsock_connect(int dirfd, const char *dir, const char *name,
    char *cause, size_t causelen);

/* sf_unixsock_unheard — whether sf_unixsock_connect's errno e means that
 * nothing listens under the name (ENOENT, ECONNREFUSED, ENOTSOCK). */
int sf_unixsock_unheard(int e);

/* sf_unixsock_peer — the peer's credentials, pid translated by the kernel
 * into our PID namespace (0 if it is not visible there); -1/errno. */
int sf_unixsock_peer(int fd, struct ucred *cr);

/*
 * sf_unixsock_send_all — send all len bytes of buf on the blocking socket
 * fd, without SIGPIPE (EPIPE instead).  0, or -1 with errno.
 */
int sf_unixsock_send_all(int fd, const void *buf, size_t len);

/*
 * sf_unixsock_send_fd — send len bytes of buf with descriptor passfd
 * attached to the first byte, without blocking and without SIGPIPE.
 * Returns what send(2) returns.
 */
ssize_t sf_unixsock_send_fd(int fd, const void *buf, size_t len, int passfd);

/*
 * sf_unixsock_pass_creds — have the kernel attach the sender's credentials
 * to what fd receives (SO_PASSCRED), so that sf_unixsock_recv learns who
 * wrote the bytes: the pid of the process that sent them, translated into
 * our PID namespace.  (SO_PEERCRED names whoever called listen(2), which
 * for a flight's socket is its starter, not its runner.)  0 or -1/errno.
 */
int sf_unixsock_pass_creds(int fd);

/*
 * sf_unixsock_recv — receive up to len bytes into buf, and up to maxfds
 * descriptors into fds (*nfds of them, close-on-exec).  Descriptors beyond
 * maxfds are closed and *extra set; *lost is set when the kernel could not
 * install one (MSG_CTRUNC: our descriptor limit).  With SO_PASSCRED, the
 * sender's pid goes to *sender (untouched without, or when sender is NULL).  Returns what
 * recvmsg(2) returns (retried on EINTR).
 */
ssize_t sf_unixsock_recv(int fd, void *buf, size_t len, int *fds, int maxfds,
    int *nfds, int *extra, int *lost, pid_t *sender);

#endif
