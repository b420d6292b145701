/* client.c — attach to a runner and stream its spools; see client.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "spool.h"

int
sf_client_sockaddr(struct sockaddr_un *sa, const char *dir, const char *name,
    char *cause, size_t causelen)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		snprintf(cause, causelen, "%s/%s: socket path too long", dir, name);
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sf_client_connect(int dirfd, const char *dir, const char *name,
    char *cause, size_t causelen)
{
	struct sockaddr_un sa;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct stat st;
	int fd, saved;

	/* connect(2) follows symbolic links; look first, without following. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	if (sf_client_sockaddr(&sa, dir, name, cause, causelen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (cr.uid != geteuid()) {
		snprintf(cause, causelen, "%s: socket owned by uid %lu",
		    sa.sun_path, (unsigned long)cr.uid);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Read more bytes from the runner into f->in, queueing the descriptors that
 * come along for the SPOOL frames they belong to (a descriptor arrives with
 * the first byte of its frame, so it is queued by the time the frame has
 * been decoded).  More than two unclaimed descriptors are a protocol error:
 * they are closed, never kept.  Returns bytes read, 0 at end of file, -1 with
 * errno.
 */
static ssize_t
fill(sf_flight *f)
{
	union { char b[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr align; } ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int i, got, *p, extra = 0;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = f->in + f->inlen;
	iov.iov_len = sizeof(f->in) - f->inlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	do
		n = recvmsg(f->fd, &mh, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	/* A descriptor that could not be installed (RLIMIT_NOFILE) is lost,
	 * and the kernel says so with MSG_CTRUNC.  The bytes are consumed, so
	 * this is final; it is our limit, not the runner's fault. */
	if (mh.msg_flags & MSG_CTRUNC)
		extra = 2;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		p = (int *)CMSG_DATA(cm);
		for (i = 0; i < got; i++) {
			int fd;
			memcpy(&fd, p + i, sizeof(fd));
			if (f->nfdq < 2)
				f->fdq[f->nfdq++] = fd;
			else {
				close(fd);
				extra = 1;
			}
		}
	}
	if (extra) {
		errno = extra == 2 ? EMFILE : EPROTO;
		return -1;
	}
	f->inlen += (size_t)n;
	return n;
}

/* Remove one decoded frame of len bytes from the front of f->in. */
static void
consume(sf_flight *f, int len)
{
	memmove(f->in, f->in + len, f->inlen - (size_t)len);
	f->inlen -= (size_t)len;
}

sf_flight *
sf_client_hello(int fd, const struct sf_key *key, enum sf_role role,
    long long deadline, char *cause, size_t causelen)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sf_msg m;
	sf_flight *f;
	int len, saved, r;
	ssize_t n;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->spool[0] = f->spool[1] = -1;
	f->role = role;
	f->deadline = deadline;
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_HELLO;
	m.u.hello.version = SF_PROTO_VERSION;
	memcpy(m.u.hello.digest, key->digest, SF_DIGEST_LEN);
	len = sf_proto_encode(&m, buf, sizeof(buf));
	if (send_all(fd, buf, (size_t)len) == -1) {
		/* The runner closed on us: the flight was ending. */
		saved = errno == EPIPE ? ECONNRESET : errno;
		goto fail;
	}
	for (;;) {
		len = sf_proto_decode(f->in, f->inlen, &m);
		if (len > 0)
			break;
		if (len < 0) {
			snprintf(cause, causelen, "garbled answer from the flight's runner");
			saved = EPROTO;
			goto fail;
		}
		/* A stopped or stuck runner never answers: -w bounds the wait. */
		r = poll(&p, 1, sf_clock_left(deadline));
		if (r == -1 && errno == EINTR && !sf_clock_passed(deadline))
			continue;
		if (r <= 0) {
			snprintf(cause, causelen, "no answer from the flight's runner");
			saved = r == 0 || errno == EINTR ? ETIMEDOUT : errno;
			goto fail;
		}
		n = fill(f);
		if (n == -1 && errno == EMFILE)
			snprintf(cause, causelen, "cannot receive the output spool: %s",
			    strerror(EMFILE));
		if (n <= 0) {
			saved = n == 0 ? ECONNRESET : errno;
			goto fail;
		}
	}
	if (m.type == SF_MSG_REFUSE) {
		snprintf(cause, causelen, "%s", m.u.refuse.reason == SF_REFUSE_VERSION ?
		    "the running flight speaks another protocol version" :
		    "the running flight has another key with the same hash");
		saved = EPROTO;
		goto fail;
	}
	if (m.type != SF_MSG_WELCOME) {
		snprintf(cause, causelen, "unexpected answer from the flight's runner");
		saved = EPROTO;
		goto fail;
	}
	consume(f, len);
	f->runner = (pid_t)m.u.welcome.runner;
	f->starter = (pid_t)m.u.welcome.starter;
	f->pgid = (pid_t)m.u.welcome.pgid;
	return f;
fail:
	sf_flight_close(f);
	errno = saved;
	return NULL;
}

enum sf_role sf_flight_role(const sf_flight *f) { return f->role; }
pid_t sf_flight_runner(const sf_flight *f) { return f->runner; }
pid_t sf_flight_starter(const sf_flight *f) { return f->starter; }

/* Returns 0 copied, 1 the deadline passed first, -1 failed (cause set). */
static int
copy_to(sf_flight *f, int s, uint64_t end, int out, char *cause, size_t causelen)
{
	int saved;

	if (end > f->off[s] && f->spool[s] == -1) {
		snprintf(cause, causelen, "flight's runner announced %s before its spool",
		    s == 0 ? "stdout" : "stderr");
		errno = EPROTO;
		return -1;
	}
	if (sf_spool_copy(f->spool[s], &f->off[s], end, out, f->deadline) == 0)
		return 0;
	saved = errno;
	if (saved == ETIMEDOUT)
		return 1;
	snprintf(cause, causelen, saved == EIO ? "%s spool is shorter than announced" :
	    "write error on %s", s == 0 ? "stdout" : "stderr");
	errno = saved;
	return -1;
}

int
sf_flight_stream(sf_flight *f, int out, int err,
    struct sf_outcome *oc, char *cause, size_t causelen)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	struct sf_msg m;
	int len, r, s, rc;
	ssize_t n;

	memset(oc, 0, sizeof(*oc));
	for (;;) {
		while ((len = sf_proto_decode(f->in, f->inlen, &m)) > 0) {
			consume(f, len);
			if (m.type == SF_MSG_SPOOL) {
				s = m.u.spool.stream - 1;
				if (f->spool[s] != -1 || f->nfdq == 0)
					goto garbled;
				f->spool[s] = f->fdq[0];
				f->fdq[0] = f->fdq[1];
				f->nfdq--;
				continue;
			}
			if (m.type == SF_MSG_DATA) {
				s = m.u.data.stream - 1;
				rc = copy_to(f, s, m.u.data.end, s == 0 ? out : err,
				    cause, causelen);
				if (rc != 0)
					goto copied;
				continue;
			}
			if (m.type != SF_MSG_EXIT)
				goto garbled;
			if ((rc = copy_to(f, 0, m.u.exit.size[0], out, cause, causelen)) != 0 ||
			    (rc = copy_to(f, 1, m.u.exit.size[1], err, cause, causelen)) != 0)
				goto copied;
			oc->how = m.u.exit.how;
			oc->code = m.u.exit.code;
			oc->err = m.u.exit.err;
			memcpy(oc->name, m.u.exit.name, sizeof(oc->name));
			return 0;
		}
		if (len < 0)
			goto garbled;
		r = poll(&p, 1, sf_clock_left(f->deadline));
		if (r == -1 && errno == EINTR && !sf_clock_passed(f->deadline))
			continue;
		if (r == 0 || (r == -1 && errno == EINTR)) {
			oc->how = SF_END_TIMEOUT;
			return 0;
		}
		n = r == -1 ? -1 : fill(f);
		if (n == -1 && errno == EPROTO)
			goto garbled;
		if (n == -1 && errno == EMFILE) {
			snprintf(cause, causelen, "cannot receive the output spool");
			return -1;
		}
		if (n > 0)
			continue;
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* The runner is gone without saying how the flight ended.  Its
		 * command must not outlive it: its direct child has a parent-death
		 * signal, the rest of its process group gets one from us. */
		if (f->pgid > 0)
			kill(-f->pgid, SIGKILL);
		oc->how = SF_END_OWNER_DIED;
		return 0;
	}
copied:
	if (rc == 1) {
		oc->how = SF_END_TIMEOUT;   /* blocked on out or err */
		return 0;
	}
	return -1;
garbled:
	snprintf(cause, causelen, "garbled message from the flight's runner (pid %ld)",
	    (long)f->runner);
	errno = EPROTO;
	return -1;
}

void
sf_flight_close(sf_flight *f)
{
	if (f == NULL)
		return;
	close(f->fd);
	if (f->spool[0] != -1)
		close(f->spool[0]);
	if (f->spool[1] != -1)
		close(f->spool[1]);
	while (f->nfdq > 0)
		close(f->fdq[--f->nfdq]);
	free(f);
}
