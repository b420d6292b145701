/* unixsock.c — the key's Unix socket for both sides; see unixsock.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unixsock.h"

int
sf_unixsock_addr(struct sockaddr_un *sa, int dirfd, const char *dir,
    const char *name, char *cause, size_t causelen)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (n >= 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	/* The directory's descriptor is a short name for a long path. */
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s",
	    dirfd, name);
	if (n >= 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	snprintf(cause, causelen, "%s/%s: socket path too long", dir, name);
	errno = ENAMETOOLONG;
	return -1;
}

static int
close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return -1;
}

int
sf_unixsock_listen(int dirfd, const char *dir, const char *name,
    struct stat *bound, char *cause, size_t causelen)
{
	struct sockaddr_un sa;
	int fd, saved;

	if (sf_unixsock_addr(&sa, dirfd, dir, name, cause, causelen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail_close;
	if (fstatat(dirfd, name, bound, AT_SYMLINK_NOFOLLOW) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		unlinkat(dirfd, name, 0);
		errno = saved;
		goto fail_close;
	}
	return fd;
fail_close:
	close_keep_errno(fd);
fail:
	saved = errno;
	snprintf(cause, causelen, "%s/%s: cannot listen: %s", dir, name, strerror(saved));
	errno = saved;
	return -1;
}

int
sf_unixsock_unlink(int dirfd, const char *name, const struct stat *bound)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_dev != bound->st_dev || st.st_ino != bound->st_ino)
		return -1;
	return unlinkat(dirfd, name, 0);
}

int
sf_unixsock_rename(int dirfd, const char *name, const struct stat *bound,
    const char *newname)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_dev != bound->st_dev || st.st_ino != bound->st_ino)
		return -1;
	return renameat2(dirfd, name, dirfd, newname, RENAME_NOREPLACE);
}

int
sf_unixsock_unheard(int e)
{
	return e == ENOENT || e == ECONNREFUSED || e == ENOTSOCK;
}

int
sf_unixsock_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
sf_unixsock_peer(int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len);
}

int
sf_unixsock_connect(int dirfd, const char *dir, const char *name,
    char *cause, size_t causelen)
{
	struct sockaddr_un sa;
	struct ucred cr;
	struct stat st;
	int fd;

	/* connect(2) follows symbolic links; look first, without following. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	if (sf_unixsock_addr(&sa, dirfd, dir, name, cause, causelen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		if (errno != EINTR)
			return close_keep_errno(fd);
	if (sf_unixsock_peer(fd, &cr) == -1)
		return close_keep_errno(fd);
	if (cr.uid != geteuid()) {
		snprintf(cause, causelen, "%s/%s: socket owned by uid %lu",
		    dir, name, (unsigned long)cr.uid);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

ssize_t
sf_unixsock_send_fd(int fd, const void *buf, size_t len, int passfd)
{
	union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	return n;
}

int
sf_unixsock_pass_creds(int fd)
{
	int on = 1;

	return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
}

ssize_t
sf_unixsock_recv(int fd, void *buf, size_t len, int *fds, int maxfds,
    int *nfds, int *extra, int *lost, pid_t *sender)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct ucred cr;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int i, got, one;

	*nfds = *extra = *lost = 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (mh.msg_flags & MSG_CTRUNC)
		*lost = 1;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(cr))) {
			memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
			if (sender != NULL)
				*sender = cr.pid;
			continue;
		}
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < got; i++) {
			memcpy(&one, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = one;
			else {
				close(one);
				*extra = 1;
			}
		}
	}
	return n;
}
