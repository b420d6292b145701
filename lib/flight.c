/*
 * flight.c — electing the starter of a flight (sfexec.h).
 *
 * Every invocation first tries to join: connect to the key's socket.  When
 * nothing listens there, it takes the key's lock and tries once more (the
 * tmux way: whoever held the lock may just have started a runner).  Still
 * nothing: under the lock it removes whatever stale thing has the socket's
 * name, binds and listens, and hands the locked descriptor to the runner,
 * which keeps the key locked until its flight is over (runner.h): joiners
 * arriving from now on queue on the socket while the runner starts, and
 * whoever finds no socket waits on the lock.  The starter is handed to the
 * runner over a socketpair made before the fork, so it is attached from the
 * first byte even if the command is instant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "nest.h"
#include "runner.h"
#include "unixsock.h"

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

/* Is fd still the file called name?  A runner removes its lock file before
 * it lets the lock go, so a waiter may wake up holding a nameless file. */
static int
still_named(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 &&
	    fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The key's lock file carries two locks.  The election lock is flock(2) on
 * the whole file, held for a few system calls by whoever elects itself (and
 * by anyone who runs flock(1) on it).  The flight lock is an open file
 * description lock (F_OFD_SETLK) on its first byte, which the two never
 * conflict with: the starter takes it, the runner inherits it with the
 * descriptor and holds it until its flight is over (runner.h).
 */
static int
flight_lock(int fd, bool wait)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };

	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

/*
 * A wait for one of the locks failed with e: say why.  EWOULDBLOCK is -n
 * meeting a busy key, EINTR a signal after the deadline (sfexec arms one).
 */
static int
lock_failed(const struct sf_opts *o, const char *name, int e, char *cause,
    size_t causelen)
{
	if (e == EWOULDBLOCK || e == EAGAIN || e == EACCES) {
		snprintf(cause, causelen, "a flight for this key is running or shutting down");
		e = EBUSY;
	} else if (e == EINTR) {
		snprintf(cause, causelen, "timed out waiting for the key's lock");
		e = ETIMEDOUT;
	} else
		snprintf(cause, causelen, "%s/%s: cannot lock: %s", o->dir, name,
		    strerror(e));
	errno = e;
	return -1;
}

/*
 * Take the election lock on a lock file that is still the key's (a runner
 * removes its lock file before it lets go of it).  With no_wait it never
 * waits (EBUSY); past the deadline, ETIMEDOUT.  Returns the descriptor.
 */
static int
elect(const struct sf_opts *o, const char *name, long long deadline,
    char *cause, size_t causelen)
{
	int fd, tries, e;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		if ((fd = open_lock(o->dirfd, o->dir, name, cause, causelen)) == -1)
			return -1;
		while (flock(fd, LOCK_EX | (o->no_wait ? LOCK_NB : 0)) == -1) {
			if (errno == EINTR && !sf_clock_passed(deadline))
				continue;
			e = errno;
			close(fd);
			return lock_failed(o, name, e, cause, causelen);
		}
		if (still_named(o->dirfd, name, fd))
			return fd;
		close(fd);
	}
	snprintf(cause, causelen, "%s/%s: the lock file keeps changing", o->dir, name);
	errno = EAGAIN;
	return -1;
}

/*
 * Under the election lock, no socket to join, yet a runner holds the flight
 * lock: its flight is shutting down, or its socket was removed from under
 * it.  Wait for it to be over (bounded like everything else), then let the
 * caller start over.  Closes lockfd.
 */
static int
wait_flight(const struct sf_opts *o, int lockfd, const char *name,
    long long deadline, char *cause, size_t causelen)
{
	int e;

	if (o->no_wait) {
		close(lockfd);
		return lock_failed(o, name, EWOULDBLOCK, cause, causelen);
	}
	flock(lockfd, LOCK_UN);         /* others may look meanwhile */
	while (flight_lock(lockfd, true) == -1) {
		if (errno == EINTR && !sf_clock_passed(deadline))
			continue;
		e = errno;
		close(lockfd);
		return lock_failed(o, name, e, cause, causelen);
	}
	close(lockfd);
	return 0;
}

/* Under both locks: make a runner for a new flight, which takes the flight
 * lock over; returns our end.  On failure nothing of the key is left: no
 * socket, no lock file. */
static int
start(const struct sf_opts *o, int lockfd, const char *lockname,
    const char *sockname, bool refresh, int *relay, char *cause, size_t causelen)
{
	struct sf_runner_args a;
	int lfd, sv[2] = { -1, -1 }, in[2] = { -1, -1 }, saved;

	memset(&a, 0, sizeof(a));
	a.stdinfd = -1;
	a.cachefd = -1;
	/* Whatever has the name now is stale: every live flight holds the
	 * flight lock we hold, and the directory is ours alone. */
	if (unlinkat(o->dirfd, sockname, 0) == -1 && errno != ENOENT) {
		saved = errno;
		snprintf(cause, causelen, "%s/%s: cannot remove stale socket: %s",
		    o->dir, sockname, strerror(saved));
		goto fail_lock;
	}
	if ((lfd = sf_unixsock_listen(o->dirfd, o->dir, sockname, &a.bound,
	    cause, causelen)) == -1) {
		saved = errno;
		goto fail_lock;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		saved = errno;
		snprintf(cause, causelen, "socketpair: %s", strerror(saved));
		goto fail;
	}
	a.dirfd = o->dirfd;
	a.dir = o->dir;
	a.lockname = lockname;
	a.lockfd = lockfd;
	a.sockname = sockname;
	a.listenfd = lfd;
	a.starterfd = sv[1];
	a.key = &o->key;
	a.key_text = o->key_text;
	a.key_len = o->key_len;
	a.argv = o->argv;
	a.grace_ms = o->grace_ms;
	a.fleet = o->fleet;
	/*
	 * A terminal is lent, not given: the command reads it through a pipe
	 * that we fill while we are attached (client.c), so once we are gone
	 * it sees end of file and the terminal is the shell's again.  A pipe
	 * or a file is the command's own to read to the end.
	 */
	if (refresh) {
		/* Nothing of the caller's: not even its stdin. */
		a.refresh = true;
		a.cachefd = o->cachefd;
		a.cache_keep_ms = o->cache_keep_ms;
		a.cache_failures = o->cache_failures != 0;
		if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
			saved = errno;
			snprintf(cause, causelen, "/dev/null: %s", strerror(saved));
			goto fail;
		}
		a.stdinfd = in[0];
	} else if (isatty(STDIN_FILENO)) {
		if (pipe2(in, O_CLOEXEC) == -1) {
			saved = errno;
			snprintf(cause, causelen, "pipe: %s", strerror(saved));
			goto fail;
		}
		a.stdinfd = in[0];
	}
	if (sf_runner_spawn(&a) == -1) {
		saved = errno;
		snprintf(cause, causelen, "cannot start the flight's runner: %s",
		    strerror(saved));
		goto fail;
	}
	close(sv[1]);
	close(lfd);
	if (in[0] != -1)
		close(in[0]);
	*relay = in[1];
	return sv[0];
fail:
	if (sv[0] != -1) {
		close(sv[0]);
		close(sv[1]);
	}
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	sf_unixsock_unlink(o->dirfd, sockname, &a.bound);
	close(lfd);
fail_lock:
	unlinkat(o->dirfd, lockname, 0);        /* we hold it: nobody else will */
	errno = saved;
	return -1;
}

/*
 * Under both locks, with nobody else's flight in sight: a result stored
 * since the caller looked (o->cache_ttl_ms), replayed instead of a second
 * run within its TTL.  Then the lock file goes (we hold it) and its
 * descriptor; NULL leaves both to the caller.
 */
static sf_flight *
stored_meanwhile(const struct sf_opts *o, int lockfd, const char *lockname,
    long long deadline)
{
	long long left = sf_clock_left(deadline);
	sf_flight *f;

	if (o->cache_ttl_ms <= 0 || o->cache_keep_ms == 0)
		return NULL;
	f = sf_flight_cached(o->cachefd, &o->key, o->cache_ttl_ms,
	    left < 0 ? -1 : left);
	if (f != NULL) {
		unlinkat(o->dirfd, lockname, 0);
		close(lockfd);
	}
	return f;
}

sf_flight *
sf_flight_attach(const struct sf_opts *o, char *cause, size_t causelen)
{
	char lockname[SF_KEY_NAME_LEN + 8], sockname[SF_KEY_NAME_LEN + 8];
	long long deadline = o->timeout_ms < 0 ? -1 : sf_clock_ms() + o->timeout_ms;
	enum sf_role role;
	sf_flight *f;
	int fd, lockfd, tries, saved, relay = -1;

	snprintf(lockname, sizeof(lockname), "%s.lock", o->key.name);
	snprintf(sockname, sizeof(sockname), "%s.sock", o->key.name);
	if (sf_nest_inside(o->dirfd, sockname)) {
		snprintf(cause, causelen, "recursive call: this command runs inside "
		    "the flight of its own key");
		errno = ELOOP;
		return NULL;
	}
	for (tries = 0; tries < MAX_TRIES; tries++) {
		cause[0] = '\0';
		role = SF_JOINED;
		fd = sf_unixsock_connect(o->dirfd, o->dir, sockname, cause, causelen);
		if (fd == -1 && !sf_unixsock_unheard(errno))
			goto fail;
		if (fd == -1) {
			if ((lockfd = elect(o, lockname, deadline, cause, causelen)) == -1)
				return NULL;
			fd = sf_unixsock_connect(o->dirfd, o->dir, sockname, cause, causelen);
			if (fd == -1 && sf_unixsock_unheard(errno)) {
				if (flight_lock(lockfd, false) == -1) {
					if (errno != EAGAIN && errno != EACCES) {
						saved = errno;
						close(lockfd);
						lock_failed(o, lockname, saved, cause, causelen);
						return NULL;
					}
					if (wait_flight(o, lockfd, lockname, deadline,
					    cause, causelen) == -1)
						return NULL;
					continue;
				}
				/* Both locks, on a file the runner of a flight
				 * that just ended may have removed: look again. */
				if (!still_named(o->dirfd, lockname, lockfd)) {
					close(lockfd);
					continue;
				}
				/* That flight may have stored the result this
				 * invocation found missing before it came here. */
				if ((f = stored_meanwhile(o, lockfd, lockname,
				    deadline)) != NULL)
					return f;
				role = SF_STARTED;
				fd = start(o, lockfd, lockname, sockname, false,
				    &relay, cause, causelen);
				flock(lockfd, LOCK_UN);     /* the election is over */
			}
			saved = errno;
			close(lockfd);  /* the runner, if any, holds the flight lock */
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
		f = sf_client_hello(fd, o, role, deadline, cause, causelen);
		if (f != NULL) {
			f->relay = relay;
			return f;
		}
		if (relay != -1)
			close(relay);
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

int
sf_flight_refresh(const struct sf_opts *o, char *cause, size_t causelen)
{
	char lockname[SF_KEY_NAME_LEN + 8], sockname[SF_KEY_NAME_LEN + 8];
	int fd, lockfd, relay = -1;

	snprintf(lockname, sizeof(lockname), "%s.lock", o->key.name);
	snprintf(sockname, sizeof(sockname), "%s.sock", o->key.name);
	cause[0] = '\0';
	/* Inside its own flight, a refresh would be the recursion nest.h
	 * refuses; a flight that takes joiners is the refresh already. */
	if (sf_nest_inside(o->dirfd, sockname))
		return 0;
	if ((fd = sf_unixsock_connect(o->dirfd, o->dir, sockname, cause,
	    causelen)) != -1) {
		close(fd);
		return 0;
	}
	/* Never wait: whoever holds the election is starting a flight, and
	 * a held flight lock is one shutting down. */
	if ((lockfd = open_lock(o->dirfd, o->dir, lockname, cause, causelen)) == -1)
		return -1;
	if (flock(lockfd, LOCK_EX | LOCK_NB) == -1 ||
	    !still_named(o->dirfd, lockname, lockfd) ||
	    flight_lock(lockfd, false) == -1) {
		close(lockfd);
		return 0;
	}
	if ((fd = sf_unixsock_connect(o->dirfd, o->dir, sockname, cause,
	    causelen)) != -1) {
		close(fd);
		close(lockfd);
		return 0;
	}
	fd = start(o, lockfd, lockname, sockname, true, &relay, cause, causelen);
	close(lockfd);          /* the runner holds the flight lock */
	if (fd == -1)
		return -1;
	close(fd);              /* not attached: the refresh runs for the cache */
	return 1;
}
