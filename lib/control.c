/* control.c — sfexec --list, --forget and --cancel; see control.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "control.h"
#include "unixsock.h"

/* What a name in the runtime directory is to us. */
enum { OTHER, DOOR, CTL };


/* "H.sock" is a flight that takes joiners, "H.<inode>.ctl" one that no
 * longer does (runner.c); H is 32 hexadecimal digits. */
static int
kind(const char *name)
{
	const char *p = name + SF_KEY_NAME_LEN;
	size_t n = strlen(name);

	if (n <= SF_KEY_NAME_LEN || !sf_key_is_hex(name, SF_KEY_NAME_LEN) || *p != '.')
		return OTHER;
	if (strcmp(p, ".sock") == 0)
		return DOOR;
	for (p++; *p >= '0' && *p <= '9'; p++)
		;
	if (p > name + SF_KEY_NAME_LEN + 1 && strcmp(p, ".ctl") == 0)
		return CTL;
	return OTHER;
}


/* Nobody there any more: the flight ended while we looked (or hung up on
 * us as it ended). */
static int
gone(int e)
{
	return sf_unixsock_unheard(e) || e == ECONNRESET || e == EPIPE;
}

/*
 * Ask the runner listening on name the request req (HELLO with
 * SF_HELLO_CONTROL and digest, proto.h) and wait at most timeout_ms for
 * its answer, decoded into *m (pointing into buf, SF_PROTO_MAX_BIG bytes).
 * Returns 1 answered (*sender: the runner's pid in our namespace, or 0),
 * 0 nobody is there (any more), or -1 with errno: ETIMEDOUT no answer,
 * EPROTONOSUPPORT a runner of another version, EPROTO garbage or another
 * refusal; others from the system (cause says which).
 */
static int
ask(int dirfd, const char *dir, const char *name, const uint8_t *digest,
    const struct sf_msg *req, long timeout_ms, uint8_t *buf,
    struct sf_msg *m, pid_t *sender, char *cause, size_t causelen)
{
	long long deadline = sf_clock_ms() + timeout_ms;
	struct pollfd p;
	struct sf_msg hello;
	const char *what;
	size_t len = 0;
	ssize_t n;
	int fd, r, fds[4], nfds, extra, lost, i, e, refusal = 0;

	*sender = 0;
	if ((fd = sf_unixsock_connect(dirfd, dir, name, cause, causelen)) == -1)
		return gone(errno) ? 0 : -1;
	(void)sf_unixsock_pass_creds(fd);
	memset(&hello, 0, sizeof(hello));
	hello.type = SF_MSG_HELLO;
	hello.u.hello.version = SF_PROTO_VERSION;
	hello.u.hello.flags = SF_HELLO_CONTROL;
	if (digest != NULL)
		memcpy(hello.u.hello.digest, digest, SF_DIGEST_LEN);
	r = sf_proto_encode(&hello, buf, SF_PROTO_MAX_BIG);
	r += sf_proto_encode(req, buf + r, SF_PROTO_MAX_BIG - (size_t)r);
	if (sf_unixsock_send_all(fd, buf, (size_t)r) == -1 && !gone(errno))
		goto fail;
	p.fd = fd;
	p.events = POLLIN;
	for (;;) {
		if ((r = sf_proto_decode(buf, len, m)) != 0)
			break;
		if (len == SF_PROTO_MAX_BIG) {
			r = -1;
			break;
		}
		r = poll(&p, 1, (int)sf_clock_left(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(cause, causelen, "%s/%s: no answer within %ld ms",
			    dir, name, timeout_ms);
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r == -1)
			goto fail;
		n = sf_unixsock_recv(fd, buf + len, SF_PROTO_MAX_BIG - len, fds, 4,
		    &nfds, &extra, &lost, sender);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == -1 && !gone(errno))
			goto fail;
		if (n <= 0 && len == 0) {
			close(fd);
			errno = ECONNRESET;
			return 0;       /* it closed at once: it was ending */
		}
		if (n <= 0 || nfds > 0 || extra || lost) {
			r = -1;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	what = NULL;
	if (r > 0 && m->type == SF_MSG_REFUSE) {
		refusal = m->u.refuse.reason;
		what = refusal == SF_REFUSE_VERSION ? "the runner speaks "
		    "another version of the protocol (another sfexec)" :
		    refusal == SF_REFUSE_KEY ? "another key has this "
		    "key's file name" : "the runner refused the question";
	} else if (r < 0 || (m->type != SF_MSG_STATUS && m->type != SF_MSG_DONE) ||
	    (m->type == SF_MSG_STATUS) != (req->type == SF_MSG_QUERY))
		what = "garbled answer from the runner";
	if (what != NULL) {
		snprintf(cause, causelen, "%s/%s: %s", dir, name, what);
		errno = refusal == SF_REFUSE_VERSION ? EPROTONOSUPPORT : EPROTO;
		return -1;
	}
	return 1;
fail:
	e = errno;
	if (cause[0] == '\0')
		snprintf(cause, causelen, "%s/%s: %s", dir, name, strerror(e));
	close(fd);
	errno = e;
	return -1;
}

/* ---- rows ------------------------------------------------------------------- */

struct rows {
	struct sf_control_row *v;
	size_t n, cap;
};

static struct sf_control_row *
new_row(struct rows *rs, const char *id, int state)
{
	struct sf_control_row *row, *v;

	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 16;
		if ((v = realloc(rs->v, rs->cap * sizeof(*v))) == NULL)
			return NULL;
		rs->v = v;
	}
	row = &rs->v[rs->n++];
	memset(row, 0, sizeof(*row));
	memcpy(row->id, id, SF_KEY_NAME_LEN);
	row->state = state;
	row->invocations = -1;
	row->exit_status = -1;
	return row;
}

/* Copies of a key's and the arguments' bytes; 0 or -1/ENOMEM. */
static int
set_text(struct sf_control_row *row, bool derived, const uint8_t *key,
    size_t keylen, const uint8_t *argv, size_t argvlen, bool cut)
{
	row->derived = derived;
	row->argv_cut = cut;
	if (!derived && keylen > 0) {
		if ((row->key = malloc(keylen)) == NULL)
			return -1;
		memcpy(row->key, key, keylen);
		row->keylen = keylen;
	}
	if ((row->argv = malloc(argvlen + 1)) == NULL)
		return -1;
	memcpy(row->argv, argv, argvlen);
	row->argvlen = argvlen;
	return 0;
}

/* How a flight's end reads as an exit status (sfexec.c's mapping). */
static int
shell_status(int how, int code)
{
	switch (how) {
	case SF_END_EXITED:      return code;
	case SF_END_SIGNALED:    return 128 + code;
	case SF_END_EXEC_FAILED: return code == ENOENT ? 127 : 126;
	}
	return 125;
}

/* One runner's row.  0, 1 when nothing listens on name, or -1 with errno
 * (no memory). */
static int
flight_row(struct rows *rs, int dirfd, const char *dir, const char *name,
    long timeout_ms, uint8_t *buf)
{
	struct sf_control_row *row;
	struct sf_msg q, m;
	char cause[512] = "";
	pid_t sender;
	int r;

	memset(&q, 0, sizeof(q));
	q.type = SF_MSG_QUERY;
	r = ask(dirfd, dir, name, NULL, &q, timeout_ms, buf, &m, &sender,
	    cause, sizeof(cause));
	if (r == 0)     /* a socket nobody listens on: the caller's to judge */
		return errno == ECONNREFUSED ? 1 : 0;
	if (r == -1) {
		/* Other failures than these (EPERM: another user's socket in
		 * our private directory) are not a flight of ours. */
		if (errno != ETIMEDOUT && errno != EPROTONOSUPPORT && errno != EPROTO)
			return 0;
		if ((row = new_row(rs, name, errno == EPROTONOSUPPORT ?
		    SF_ROW_INCOMPATIBLE : SF_ROW_UNRESPONSIVE)) == NULL)
			return -1;
		return 0;
	}
	if ((row = new_row(rs, name, m.u.status.state)) == NULL)
		return -1;
	row->runner_pid = sender;
	row->started_ns = m.u.status.started_ns;
	row->invocations = (long)m.u.status.invocations;
	row->sizes_known = true;
	row->size[0] = m.u.status.size[0];
	row->size[1] = m.u.status.size[1];
	if (m.u.status.flags & SF_STATUS_ENDED) {
		row->ended_ns = m.u.status.ended_ns;
		row->exit_status = shell_status(m.u.status.how, m.u.status.code);
	}
	return set_text(row, (m.u.status.flags & SF_STATUS_DERIVED) != 0,
	    m.u.status.key, m.u.status.keylen, m.u.status.argv,
	    m.u.status.argvlen, (m.u.status.flags & SF_STATUS_ARGV_CUT) != 0);
}

static int
cached_row(void *arg, const struct sf_cache_info *e)
{
	struct sf_control_row *row;

	if ((row = new_row(arg, e->id, SF_ROW_CACHED)) == NULL)
		return -1;
	row->started_ns = e->started_ns;
	row->ended_ns = e->ended_ns;
	row->keep_until_ns = e->keep_until_ns;
	row->sizes_known = true;
	row->size[0] = e->size[0];
	row->size[1] = e->size[1];
	row->exit_status = e->status;
	return set_text(row, e->derived, e->key, e->keylen, e->argv, e->argvlen,
	    e->argv_cut);
}

static int
cmp_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	return c != 0 ? c : (na > nb) - (na < nb);
}

/* Flights by start (unknown last), then stored results by key (derived
 * ones last), then by file name, so the order is stable. */
static int
cmp_rows(const void *x, const void *y)
{
	const struct sf_control_row *a = x, *b = y;
	int ca = a->state == SF_ROW_CACHED, cb = b->state == SF_ROW_CACHED;
	int c;

	if (ca != cb)
		return ca - cb;
	if (!ca) {
		if ((a->started_ns == 0) != (b->started_ns == 0))
			return a->started_ns == 0 ? 1 : -1;
		if (a->started_ns != b->started_ns)
			return a->started_ns < b->started_ns ? -1 : 1;
	} else {
		if ((a->key == NULL) != (b->key == NULL))
			return a->key == NULL ? 1 : -1;
		if (a->key != NULL &&
		    (c = cmp_bytes(a->key, a->keylen, b->key, b->keylen)) != 0)
			return c;
	}
	return strcmp(a->id, b->id);
}

/* Every name in dirfd of one of our kinds (and, with prefix, of that key)
 * to fn; 0, or -1/errno.  Names may vanish meanwhile: fn copes. */
static int
each_name(int dirfd, const char *prefix,
    int (*fn)(void *arg, const char *name, int kind), void *arg)
{
	struct dirent *d;
	DIR *dp;
	int fd, k, e = 0;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	while ((errno = 0, d = readdir(dp)) != NULL) {
		if ((k = kind(d->d_name)) == OTHER ||
		    (prefix != NULL && strncmp(d->d_name, prefix, SF_KEY_NAME_LEN) != 0))
			continue;
		if (fn(arg, d->d_name, k) == -1) {
			e = errno;
			break;
		}
	}
	if (d == NULL)
		e = errno;
	closedir(dp);
	errno = e;
	return e != 0 ? -1 : 0;
}

struct walk {
	struct rows rs;
	int dirfd;
	const char *dir;
	long timeout_ms;
	uint8_t buf[SF_PROTO_MAX_BIG];
};

static int
walk_flight(void *arg, const char *name, int k)
{
	struct walk *w = arg;
	struct stat before, after;
	int r;

	if (fstatat(w->dirfd, name, &before, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	r = flight_row(&w->rs, w->dirfd, w->dir, name, w->timeout_ms, w->buf);
	/*
	 * A renamed socket nobody listens on is a runner that died (was
	 * killed) before it could remove it: nothing will ever bind that
	 * name again, so it goes, if it is still the file looked at.
	 */
	if (r == 1 && k == CTL &&
	    fstatat(w->dirfd, name, &after, AT_SYMLINK_NOFOLLOW) == 0 &&
	    before.st_dev == after.st_dev && before.st_ino == after.st_ino)
		unlinkat(w->dirfd, name, 0);
	return r == -1 ? -1 : 0;
}

int
sf_control_list(int dirfd, const char *dir, int cachefd, long timeout_ms,
    struct sf_control_row **rows, size_t *n, char *cause, size_t causelen)
{
	struct walk *w;
	int e;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(cause, causelen, "%s", strerror(errno));
		return -1;
	}
	w->dirfd = dirfd;
	w->dir = dir;
	w->timeout_ms = timeout_ms;
	if (each_name(dirfd, NULL, walk_flight, w) == -1) {
		e = errno;
		snprintf(cause, causelen, "%s: %s", dir, strerror(e));
		goto fail;
	}
	if (cachefd != -1 && sf_cache_list(cachefd, cached_row, &w->rs) == -1) {
		e = errno;
		snprintf(cause, causelen, "cache directory: %s", strerror(e));
		goto fail;
	}
	if (w->rs.n > 0)
		qsort(w->rs.v, w->rs.n, sizeof(*w->rs.v), cmp_rows);
	*rows = w->rs.v;
	*n = w->rs.n;
	free(w);
	return 0;
fail:
	sf_control_free(w->rs.v, w->rs.n);
	free(w);
	errno = e;
	return -1;
}

void
sf_control_free(struct sf_control_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rows[i].key);
		free(rows[i].argv);
		free(rows[i].host);
	}
	free(rows);
}

/* ---- forget, cancel -------------------------------------------------------- */

struct steer {
	int dirfd;
	const char *dir;
	const struct sf_key *k;
	struct sf_msg req;
	long timeout_ms;
	int done;                   /* some runner said it was done */
	int failed;                 /* some runner could not be asked */
	char *cause;
	size_t causelen;
	char tried[512];            /* the first failure's cause */
	uint8_t buf[SF_PROTO_MAX_BIG];
};

static int
steer_one(void *arg, const char *name, int k)
{
	struct steer *s = arg;
	struct sf_msg m;
	pid_t sender;
	int r;

	(void)k;
	r = ask(s->dirfd, s->dir, name, s->k->digest, &s->req, s->timeout_ms,
	    s->buf, &m, &sender, s->cause, s->causelen);
	if (r == 1 && m.u.done.done)
		s->done = 1;
	if (r == -1 && !s->failed) {
		s->failed = 1;
		memcpy(s->tried, s->cause, s->causelen < sizeof(s->tried) ?
		    s->causelen : sizeof(s->tried));
		s->tried[sizeof(s->tried) - 1] = '\0';
	}
	s->cause[0] = '\0';
	return 0;       /* the others are asked all the same */
}

/* Send req to the key's runner(s): the one taking joiners, and with all
 * set, those that no longer do.  1, 0 or -1 as sf_control_forget. */
static int
steer(int dirfd, const char *dir, const struct sf_key *k, const struct sf_msg *req,
    bool all, long timeout_ms, char *cause, size_t causelen)
{
	char name[SF_KEY_NAME_LEN + 8];
	struct steer *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(cause, causelen, "%s", strerror(errno));
		return -1;
	}
	cause[0] = '\0';
	s->dirfd = dirfd;
	s->dir = dir;
	s->k = k;
	s->req = *req;
	s->timeout_ms = timeout_ms;
	s->cause = cause;
	s->causelen = causelen;
	if (all)
		r = each_name(dirfd, k->name, steer_one, s);
	else {
		snprintf(name, sizeof(name), "%s.sock", k->name);
		r = steer_one(s, name, DOOR);
	}
	if (r == -1)
		snprintf(cause, causelen, "%s: %s", dir, strerror(errno));
	else if (s->done)
		r = 1;
	else if (s->failed) {
		snprintf(cause, causelen, "%s", s->tried);
		r = -1;
	}
	free(s);
	return r;
}

int
sf_control_forget(int dirfd, const char *dir, int cachefd,
    const struct sf_key *k, long timeout_ms, char *cause, size_t causelen)
{
	struct sf_msg req;
	int flight, stored = 0;

	/* The flight first: a result it stored just before it was
	 * forgotten goes with the stored one below. */
	memset(&req, 0, sizeof(req));
	req.type = SF_MSG_FORGET;
	if ((flight = steer(dirfd, dir, k, &req, false, timeout_ms, cause,
	    causelen)) == -1)
		return -1;
	if (cachefd != -1 && (stored = sf_cache_forget(cachefd, k)) == -1) {
		snprintf(cause, causelen, "cannot remove the stored result: %s",
		    strerror(errno));
		return -1;
	}
	return flight || stored;
}

int
sf_control_cancel(int dirfd, const char *dir, const struct sf_key *k,
    long grace_ms, long timeout_ms, char *cause, size_t causelen)
{
	struct sf_msg req;

	memset(&req, 0, sizeof(req));
	req.type = SF_MSG_CANCEL;
	req.u.cancel.grace_ms = grace_ms < 0 ? 0 : grace_ms > 0xffffffffL ?
	    0xffffffffU : (uint32_t)grace_ms;
	return steer(dirfd, dir, k, &req, true, timeout_ms, cause, causelen);
}
