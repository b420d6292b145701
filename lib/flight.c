/*
 * flight.c — electing the starter of a flight (sfexec.h).
 *
 * Every invocation first tries to join: connect to the key's socket.  When
 * nothing listens there, it takes the key's lock and tries once more (the
 * tmux way: whoever held the lock may just have started a runner).  Still
 * nothing: under the lock it removes whatever stale thing has the socket's
 * name, binds and listens, and only then lets the lock go, so joiners
 * arriving from now on queue on the socket while the runner starts.  The
 * starter is handed to the runner over a socketpair made before the fork,
 * so it is attached from the first byte even if the command is instant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "runner.h"

/* A flight can end between our connect and its WELCOME; each retry sees a
 * newer flight, so running out means something is badly wrong. */
#define MAX_TRIES 100

static int
open_lock(int dirfd, const char *dir, const char *name, char *cause, size_t causelen)
{
	struct stat st;
	int fd, saved;

	/* O_NONBLOCK so that a FIFO planted in our place cannot block us. */
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK, 0600);
	if (fd == -1) {
		saved = errno;
		snprintf(cause, causelen, "%s/%s: %s", dir, name,
		    saved == ELOOP ? "lock file is a symbolic link" : strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(cause, causelen, "%s/%s: lock file is not a regular file",
		    dir, name);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static int
bind_listen(const char *dir, const char *name, char *cause, size_t causelen)
{
	struct sockaddr_un sa;
	int fd, saved;

	if (sf_client_sockaddr(&sa, dir, name, cause, causelen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	snprintf(cause, causelen, "%s: cannot listen: %s", sa.sun_path, strerror(saved));
	errno = saved;
	return -1;
}

/* Under the lock: make a runner for a new flight; returns our end. */
static int
start(const struct sf_opts *o, const char *lockname, const char *sockname,
    char *cause, size_t causelen)
{
	struct sf_runner_args a;
	int lfd, sv[2], saved;

	/* Whatever has the name now is stale: nobody listens (we tried twice,
	 * the second time under the lock) and the directory is ours alone. */
	if (unlinkat(o->dirfd, sockname, 0) == -1 && errno != ENOENT) {
		saved = errno;
		snprintf(cause, causelen, "%s/%s: cannot remove stale socket: %s",
		    o->dir, sockname, strerror(saved));
		errno = saved;
		return -1;
	}
	if ((lfd = bind_listen(o->dir, sockname, cause, causelen)) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		saved = errno;
		snprintf(cause, causelen, "socketpair: %s", strerror(saved));
		goto fail;
	}
	memset(&a, 0, sizeof(a));
	a.dirfd = o->dirfd;
	a.lockname = lockname;
	a.sockname = sockname;
	a.listenfd = lfd;
	a.starterfd = sv[1];
	memcpy(a.digest, o->key.digest, SF_DIGEST_LEN);
	a.argv = o->argv;
	a.grace_ms = o->grace_ms;
	if (sf_runner_spawn(&a) == -1) {
		saved = errno;
		snprintf(cause, causelen, "cannot start the flight's runner: %s",
		    strerror(saved));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	close(sv[1]);
	close(lfd);
	return sv[0];
fail:
	/* Leave no socket that nobody will ever serve. */
	unlinkat(o->dirfd, sockname, 0);
	close(lfd);
	errno = saved;
	return -1;
}

static int
stale(int e)
{
	return e == ENOENT || e == ECONNREFUSED || e == ENOTSOCK;
}

sf_flight *
sf_flight_attach(const struct sf_opts *o, char *cause, size_t causelen)
{
	char lockname[SF_KEY_NAME_LEN + 8], sockname[SF_KEY_NAME_LEN + 8];
	long long deadline = o->timeout_ms < 0 ? -1 : sf_clock_ms() + o->timeout_ms;
	enum sf_role role;
	sf_flight *f;
	int fd, lockfd, tries, saved;

	snprintf(lockname, sizeof(lockname), "%s.lock", o->key.name);
	snprintf(sockname, sizeof(sockname), "%s.sock", o->key.name);
	for (tries = 0; tries < MAX_TRIES; tries++) {
		cause[0] = '\0';
		role = SF_JOINED;
		fd = sf_client_connect(o->dirfd, o->dir, sockname, cause, causelen);
		if (fd == -1 && !stale(errno))
			goto fail;
		if (fd == -1) {
			if ((lockfd = open_lock(o->dirfd, o->dir, lockname, cause,
			    causelen)) == -1)
				return NULL;
			while (flock(lockfd, LOCK_EX) == -1)
				if (errno != EINTR) {
					saved = errno;
					snprintf(cause, causelen, "%s/%s: cannot lock: %s",
					    o->dir, lockname, strerror(saved));
					close(lockfd);
					errno = saved;
					return NULL;
				}
			fd = sf_client_connect(o->dirfd, o->dir, sockname, cause, causelen);
			if (fd == -1 && stale(errno)) {
				role = SF_STARTED;
				fd = start(o, lockname, sockname, cause, causelen);
			}
			saved = errno;
			close(lockfd);      /* releases the lock */
			errno = saved;
			if (fd == -1)
				goto fail;
		}
		if (role == SF_JOINED && o->no_wait) {
			close(fd);
			snprintf(cause, causelen, "a flight for this key is already running");
			errno = EBUSY;
			return NULL;
		}
		f = sf_client_hello(fd, &o->key, role, deadline, cause, causelen);
		if (f != NULL)
			return f;
		if (errno != ECONNRESET)
			return NULL;
		if (role == SF_STARTED) {
			/* Our own runner hung up before WELCOME: it died at
			 * once, and another would too.  Do not fork a herd. */
			snprintf(cause, causelen, "the flight's runner exited at start");
			errno = ECHILD;
			return NULL;
		}
	}
	snprintf(cause, causelen, "could not attach to a flight after %d tries", MAX_TRIES);
	errno = EAGAIN;
	return NULL;
fail:
	if (cause[0] == '\0') {
		saved = errno;
		snprintf(cause, causelen, "%s/%s: %s", o->dir, sockname, strerror(saved));
		errno = saved;
	}
	return NULL;
}
