/* hub.c — the runner's fan-out to its clients; see hub.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "hub.h"
#include "unixsock.h"

#define HELLO_TIMEOUT_MS 5000   /* a connection must say HELLO by then */
/*
 * After EXIT, the hub keeps a client's connection until the client hangs
 * up, for this long at most.  Whoever closes a spool last frees its pages
 * (0.15 s for 1 GiB of tmpfs here), and that should be the runner, which
 * nobody waits for, not an invocation about to exit.  The timer starts when
 * EXIT has been written out in full, so a slow reader loses nothing.
 */
#define LINGER_MS        5000
/* Connections that have not said HELLO yet hold no more than this many
 * descriptors and buffers; the rest wait in the listen queue. */
#define MAX_PENDING      256
/* Out of descriptors or memory for accept: try again this much later (or
 * as soon as a client leaves). */
#define ACCEPT_RETRY_MS  100
/*
 * Bulk growth (GROW_BULK bytes or more since clients were last told) is
 * told at most once per GROW_GAP_US: a command that writes a GiB in under a
 * second would otherwise wake every client once per read of its pipe, and
 * on a small machine those wake-ups are taken from the command and the
 * runner.  Less, or growth after a quiet spell, is told at once, so lines
 * arrive without delay however often they come.
 */
#define GROW_GAP_US      1000
#define GROW_BULK        (64 * 1024)

struct client {
	sf_hub *h;
	int fd;
	bool live;                  /* welcomed */
	bool control;               /* said HELLO with SF_HELLO_CONTROL */
	bool key_ok;                /* its HELLO's digest is the flight's */
	bool order;                 /* asked for the order index */
	bool cache_due;             /* said HELLO with SF_HELLO_CACHE, no CACHE yet */
	bool spool_sent[SF_OUT_SPOOLS]; /* SPOOL (with its descriptor) sent */
	bool exit_queued, exit_sent;
	uint64_t sent[SF_OUT_SPOOLS];   /* ends announced so far */
	unsigned note_gen;          /* the hub's note_gen when last told */
	int told_sig;               /* the stop last told; 0 none or continued */
	long long since;            /* accepted at (clock.h microseconds) */
	struct sf_timer timer;      /* HELLO timeout, then linger */
	int dirfd;                  /* CACHE's descriptor, its frame not all in */
	size_t inlen;
	uint8_t in[SF_PROTO_MAX_FRAME];
	size_t outoff, outlen;
	uint8_t out[3 * SF_PROTO_MAX_FRAME];
	uint8_t *answer;            /* a control client's answer (malloc'd) */
	struct client *prev, *next;
};

struct sf_hub {
	struct sf_hub_args a;
	struct client *head;
	size_t n, npending, ncontrol;
	bool stopping, dropping, ended;
	bool drained;               /* since stopping, the queue was seen empty */
	bool listen_watched;
	struct sf_timer accept_retry;
	struct sf_timer grow_timer;     /* growth held back (GROW_GAP_US) */
	long long grown_at;             /* when growth was last told */
	uint64_t told_total;            /* the output's size then */
	struct sf_msg exit;
	int stop_sig;               /* the command is stopped by it; 0 runs */
	unsigned note_gen;          /* bumped on every change of stop_sig */
};

static void client_ready(void *arg, int fd, int ready);
static void accept_ready(void *arg, int fd, int ready);

static void
watch_listener(sf_hub *h, bool on)
{
	if (h->a.listenfd == -1 || h->listen_watched == on)
		return;
	if (on && sf_loop_watch(h->a.loop, h->a.listenfd, SF_LOOP_READ,
	    accept_ready, h) == -1)
		return;
	if (!on)
		sf_loop_unwatch(h->a.loop, h->a.listenfd);
	h->listen_watched = on;
}

static void
close_listener(sf_hub *h)
{
	watch_listener(h, false);
	sf_loop_timer_clear(h->a.loop, &h->accept_retry);
	close(h->a.listenfd);
	h->a.listenfd = -1;
}

static void
drop(struct client *c)
{
	sf_hub *h = c->h;

	sf_loop_unwatch(h->a.loop, c->fd);
	sf_loop_timer_clear(h->a.loop, &c->timer);
	close(c->fd);
	if (c->dirfd != -1)
		close(c->dirfd);
	if (c->control)
		h->ncontrol--;
	free(c->answer);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n--;
	if (!c->live && !c->control)
		h->npending--;
	free(c);
	/* A descriptor is free again: a paused listener may go on. */
	if (h->a.listenfd != -1 && !h->listen_watched &&
	    h->accept_retry.at != 0) {
		sf_loop_timer_clear(h->a.loop, &h->accept_retry);
		watch_listener(h, true);
	}
}

static void
on_timer(void *arg)
{
	drop(arg);      /* silent past HELLO_TIMEOUT_MS, or done lingering */
}

static void
want_write(struct client *c)
{
	sf_loop_watch(c->h->a.loop, c->fd, SF_LOOP_READ |
	    (c->outoff < c->outlen ? SF_LOOP_WRITE : 0), client_ready, c);
}

/* Send a SPOOL frame with the stream's reader attached to its first byte.
 * Returns 1 sent, 0 try again when writable, -1 drop the client. */
static int
send_spool(struct client *c, int s)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	ssize_t n;
	int len;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_SPOOL;
	m.u.spool.stream = (uint8_t)(s + 1);
	len = sf_proto_encode(&m, buf, sizeof(buf));
	n = sf_unixsock_send_fd(c->fd, buf, (size_t)len, c->h->a.out->reader[s]);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	memcpy(c->out, buf + n, (size_t)(len - n));
	c->outoff = 0;
	c->outlen = (size_t)(len - n);
	c->spool_sent[s] = true;
	return 1;
}

static void
queue(struct client *c, const struct sf_msg *m)
{
	c->outlen += (size_t)sf_proto_encode(m, c->out + c->outlen,
	    sizeof(c->out) - c->outlen);
}

/* The spools a client gets, in the order their DATA goes out: the order
 * index first, so that its records are known before the bytes they
 * separate (proto.h). */
static const int stream_order[SF_OUT_SPOOLS] = {
	SF_OUT_ORDER, SF_OUT_STDOUT, SF_OUT_STDERR
};

static bool
wants(const struct client *c, int s)
{
	return s != SF_OUT_ORDER || c->order;
}

/* Whether the command stopped or continued since the client was told: a
 * joiner is told a stop, and "continued" goes only to whom a stop went. */
static void
queue_note(struct client *c)
{
	sf_hub *h = c->h;
	struct sf_msg m;

	if (c->note_gen == h->note_gen || h->ended)
		return;
	c->note_gen = h->note_gen;
	if (h->stop_sig == 0 && c->told_sig == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_NOTE;
	m.u.note.what = h->stop_sig != 0 ? SF_NOTE_STOPPED : SF_NOTE_CONTINUED;
	m.u.note.sig = (uint8_t)h->stop_sig;
	c->told_sig = h->stop_sig;
	queue(c, &m);
}

/* Send buf[c->outoff .. c->outlen) without blocking: 1 all sent, 0 the
 * socket is full, -1 the client is gone. */
static int
send_out(struct client *c, const uint8_t *buf)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, buf + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1)
			return -1;
		c->outoff += (size_t)n;
	}
	return 1;
}

/*
 * A control client is owed its one answer; once it is out, the connection
 * is over (proto.h).  Returns -1 when the client must be dropped: also when
 * all is said.
 */
static int
flush_answer(struct client *c)
{
	if (c->answer == NULL)
		return 0;       /* its request is still to come */
	return send_out(c, c->answer) == 0 ? 0 : -1;
}

/*
 * Write what the client is owed: first the rest of a partly sent frame, then
 * the descriptor of a spool it has not seen, then fresh DATA frames for
 * streams that grew, then a NOTE, then EXIT.  Returns -1 when the client
 * must be dropped.
 */
static int
flush(struct client *c)
{
	const struct sf_output *o = c->h->a.out;
	struct sf_msg m;
	int i, s, sent;

	if (c->control)
		return flush_answer(c);
	if (!c->live)
		return 0;
	for (;;) {
		if ((sent = send_out(c, c->out)) != 1)
			return sent;
		if (c->exit_queued && !c->exit_sent) {
			/* All said: now it has LINGER_MS to hang up. */
			c->exit_sent = true;
			sf_loop_timer_set(c->h->a.loop, &c->timer,
			    sf_clock_us() + LINGER_MS * 1000LL, on_timer, c);
		}
		if (c->exit_queued)
			return 0;
		c->outoff = c->outlen = 0;
		for (i = 0, sent = 0; i < SF_OUT_SPOOLS && !sent; i++) {
			s = stream_order[i];
			if (wants(c, s) && o->reader[s] != -1 && !c->spool_sent[s] &&
			    (sent = send_spool(c, s)) <= 0)
				return sent;
		}
		if (sent)
			continue;
		for (i = 0; i < SF_OUT_SPOOLS; i++) {
			s = stream_order[i];
			if (!wants(c, s) || c->sent[s] == o->told[s])
				continue;
			memset(&m, 0, sizeof(m));
			m.type = SF_MSG_DATA;
			m.u.data.stream = (uint8_t)(s + 1);
			m.u.data.end = o->told[s];
			queue(c, &m);
			c->sent[s] = o->told[s];
		}
		queue_note(c);
		if (c->h->ended && !c->cache_due) {
			queue(c, &c->h->exit);
			c->exit_queued = true;
		}
		if (c->outlen == 0)
			return 0;
	}
}

/* Flush and keep the write interest right; drops the client on error. */
static void
push(struct client *c)
{
	if (flush(c) == -1)
		drop(c);
	else if (c->live || c->answer != NULL)
		want_write(c);
}

static void
push_all(sf_hub *h)
{
	struct client *c, *next;

	for (c = h->head; c != NULL; c = next) {
		next = c->next;
		push(c);
	}
}

static void
welcome(struct client *c)
{
	struct sf_msg m;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_WELCOME;
	m.u.welcome.version = SF_PROTO_VERSION;
	m.u.welcome.runner = c->h->a.runner;
	m.u.welcome.starter = c->h->a.starter;
	m.u.welcome.pgid = c->h->a.pgid;
	if (c->h->a.notice != NULL) {
		if (c->h->a.notice_verbose)
			m.u.welcome.flags = SF_WELCOME_VERBOSE;
		m.u.welcome.noticelen = (uint8_t)strnlen(c->h->a.notice,
		    SF_PROTO_MAX_NAME);
		memcpy(m.u.welcome.notice, c->h->a.notice, m.u.welcome.noticelen);
	}
	c->outoff = c->outlen = 0;
	queue(c, &m);
	c->live = true;
	/* Not told anything yet: a stop in force is news to it. */
	c->note_gen = c->h->note_gen - 1;
	c->h->npending--;
	c->inlen = 0;
	/* One owing its CACHE keeps the HELLO timeout until it comes. */
	if (!c->cache_due)
		sf_loop_timer_clear(c->h->a.loop, &c->timer);
	push(c);
}

/*
 * The CACHE frame a welcomed client announced: exactly one frame, with
 * exactly one descriptor; anything else gets it dropped.
 */
static void
hear_cache(struct client *c)
{
	struct sf_msg m;
	ssize_t n;
	int fds[1], nfds = 0, extra = 0, lost = 0, len;

	n = sf_unixsock_recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
	    fds, 1, &nfds, &extra, &lost, NULL);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0 || extra || lost || (nfds == 1 && c->inlen > 0)) {
		if (nfds == 1)
			close(fds[0]);
		drop(c);
		return;
	}
	if (nfds == 1)
		c->dirfd = fds[0];
	c->inlen += (size_t)n;
	len = sf_proto_decode(c->in, c->inlen, &m);
	if (len == 0)
		return;
	if (len < 0 || m.type != SF_MSG_CACHE || (size_t)len != c->inlen ||
	    c->dirfd == -1) {
		drop(c);
		return;
	}
	c->cache_due = false;
	c->inlen = 0;
	sf_loop_timer_clear(c->h->a.loop, &c->timer);
	if (c->h->a.cache != NULL)
		c->h->a.cache(c->h->a.arg, m.u.cache.keep_ms, m.u.cache.flags,
		    c->dirfd);
	else
		close(c->dirfd);
	c->dirfd = -1;
	push(c);
}

static void refuse(struct client *c, int reason);

/*
 * A control client's request (proto.h, "Control connections"): exactly one
 * frame, answered once.  The answer may be long (STATUS), so it has a
 * buffer of its own, made only for control clients.
 */
static void
hear_request(struct client *c)
{
	struct sf_msg m, answer;
	int len;

	len = sf_proto_decode(c->in, c->inlen, &m);
	if (len == 0)
		return;
	if (len < 0 || (size_t)len != c->inlen || (m.type != SF_MSG_QUERY &&
	    m.type != SF_MSG_FORGET && m.type != SF_MSG_CANCEL) ||
	    c->h->a.control == NULL) {
		drop(c);
		return;
	}
	if (m.type != SF_MSG_QUERY && !c->key_ok) {
		refuse(c, SF_REFUSE_KEY);
		return;
	}
	memset(&answer, 0, sizeof(answer));
	c->h->a.control(c->h->a.arg, &m, &answer);
	if ((c->answer = malloc(SF_PROTO_MAX_BIG)) == NULL ||
	    (len = sf_proto_encode(&answer, c->answer, SF_PROTO_MAX_BIG)) < 0) {
		drop(c);
		return;
	}
	c->inlen = 0;
	c->outoff = 0;
	c->outlen = (size_t)len;
	/* The timer set at accept still runs: one that does not read its
	 * answer in time is dropped like one that never said HELLO. */
	push(c);
}

static void
refuse(struct client *c, int reason)
{
	uint8_t buf[SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	int len;

	memset(&m, 0, sizeof(m));
	m.type = SF_MSG_REFUSE;
	m.u.refuse.reason = (uint8_t)reason;
	len = sf_proto_encode(&m, buf, sizeof(buf));
	(void)!send(c->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	drop(c);
}

/* The client's socket is readable. */
static void
hear(struct client *c)
{
	struct ucred cr;
	struct sf_msg m;
	ssize_t n;
	int len, why;

	if (c->live && c->cache_due) {
		hear_cache(c);
		return;
	}
	if (c->live || c->answer != NULL) {
		/* A welcomed client never speaks again (but for the CACHE
		 * it owes), nor does a control client once it has asked:
		 * this is its end of file, or a protocol violation; either
		 * way it leaves. */
		drop(c);
		return;
	}
	do
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->inlen += (size_t)n;
	if (c->control) {
		hear_request(c);
		return;
	}
	len = sf_proto_decode(c->in, c->inlen, &m);
	if (len == 0)
		return;
	if (len < 0 || m.type != SF_MSG_HELLO ||
	    ((size_t)len != c->inlen && m.u.hello.flags != SF_HELLO_CONTROL)) {
		drop(c);
		return;
	}
	if (m.u.hello.version != SF_PROTO_VERSION ||
	    (m.u.hello.flags & ~(SF_HELLO_ORDER | SF_HELLO_CACHE)) != 0) {
		if (m.u.hello.version == SF_PROTO_VERSION &&
		    m.u.hello.flags == SF_HELLO_CONTROL) {
			/* Not a joiner: its request may have come along. */
			c->control = true;
			c->key_ok = memcmp(m.u.hello.digest, c->h->a.digest,
			    SF_DIGEST_LEN) == 0;
			c->h->ncontrol++;
			c->h->npending--;
			c->inlen -= (size_t)len;
			memmove(c->in, c->in + len, c->inlen);
			hear_request(c);
			return;
		}
		refuse(c, SF_REFUSE_VERSION);
		return;
	}
	if (memcmp(m.u.hello.digest, c->h->a.digest, SF_DIGEST_LEN) != 0) {
		refuse(c, SF_REFUSE_KEY);
		return;
	}
	if (c->h->dropping) {
		drop(c);        /* never join a flight being torn down */
		return;
	}
	if (c->h->a.admit != NULL && sf_unixsock_peer(c->fd, &cr) == 0 &&
	    (why = c->h->a.admit(c->h->a.arg, &cr)) != 0) {
		refuse(c, why);
		return;
	}
	c->order = (m.u.hello.flags & SF_HELLO_ORDER) != 0;
	c->cache_due = (m.u.hello.flags & SF_HELLO_CACHE) != 0;
	welcome(c);
}

static void
client_ready(void *arg, int fd, int ready)
{
	struct client *c = arg;

	(void)fd;
	if (ready & SF_LOOP_READ) {
		hear(c);
		return;         /* c may be gone; a write waits a turn */
	}
	if (ready & SF_LOOP_WRITE)
		push(c);
}

static struct client *
add(sf_hub *h, int fd)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->h = h;
	c->fd = fd;
	c->dirfd = -1;
	c->since = sf_clock_us();
	if (sf_loop_watch(h->a.loop, fd, SF_LOOP_READ, client_ready, c) == -1) {
		free(c);
		return NULL;
	}
	c->next = h->head;
	if (h->head)
		h->head->prev = c;
	h->head = c;
	h->n++;
	h->npending++;
	sf_loop_timer_set(h->a.loop, &c->timer,
	    c->since + HELLO_TIMEOUT_MS * 1000LL, on_timer, c);
	return c;
}

int
sf_hub_add(sf_hub *h, int fd)
{
	struct client *c = add(h, fd);

	if (c == NULL)
		return -1;
	hear(c);
	return 0;
}

/* Make room under a flood: drop the connection that has waited longest
 * for its HELLO, so silent peers cannot keep an honest joiner queued. */
static void
evict_oldest_pending(sf_hub *h)
{
	struct client *c, *oldest = NULL;

	for (c = h->head; c != NULL; c = c->next)
		if (!c->live && !c->control &&
		    (oldest == NULL || c->since < oldest->since))
			oldest = c;
	if (oldest != NULL)
		drop(oldest);
}

static void
retry_accept(void *arg)
{
	watch_listener(arg, true);
}

static void
accept_ready(void *arg, int lfd, int ready)
{
	sf_hub *h = arg;
	struct client *c;
	struct ucred cr;
	int turns, fd;

	(void)ready;
	for (turns = 0; turns < 4 * MAX_PENDING; turns++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Whoever queued before the door closed is in:
				 * newcomers come through the renamed socket,
				 * and only ask (runner.c). */
				if (h->stopping)
					h->drained = true;
				return;
			}
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: pause
			 * rather than spin, until a client leaves or a while
			 * has passed. */
			watch_listener(h, false);
			sf_loop_timer_set(h->a.loop, &h->accept_retry,
			    sf_clock_us() + ACCEPT_RETRY_MS * 1000LL, retry_accept, h);
			return;
		}
		/* Another user may neither join nor speak to a flight. */
		if (sf_unixsock_peer(fd, &cr) == -1 || cr.uid != geteuid() ||
		    (c = add(h, fd)) == NULL) {
			close(fd);
			continue;
		}
		/* An honest joiner sent HELLO right after connecting: it is
		 * usually here already, and then it is welcomed at once. */
		hear(c);
		if (h->npending > MAX_PENDING)
			evict_oldest_pending(h);
	}
}

sf_hub *
sf_hub_new(const struct sf_hub_args *a)
{
	sf_hub *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->a = *a;
	watch_listener(h, true);
	if (!h->listen_watched) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

/* All the bytes clients may copy, of every spool. */
static uint64_t
told_total(const sf_hub *h)
{
	uint64_t n = 0;
	int s;

	for (s = 0; s < SF_OUT_SPOOLS; s++)
		n += h->a.out->told[s];
	return n;
}

static void
tell_growth(void *arg)
{
	sf_hub *h = arg;

	h->grown_at = sf_clock_us();
	h->told_total = told_total(h);
	push_all(h);
}

void
sf_hub_grew(sf_hub *h)
{
	long long now = sf_clock_us();

	if (now - h->grown_at >= GROW_GAP_US ||
	    told_total(h) - h->told_total < GROW_BULK) {
		sf_loop_timer_clear(h->a.loop, &h->grow_timer);
		tell_growth(h);
	} else if (h->grow_timer.at == 0)
		sf_loop_timer_set(h->a.loop, &h->grow_timer,
		    h->grown_at + GROW_GAP_US, tell_growth, h);
}

void
sf_hub_note(sf_hub *h, int stop_sig)
{
	if (h->stop_sig == stop_sig)
		return;
	h->stop_sig = stop_sig;
	h->note_gen++;
	push_all(h);
}

void
sf_hub_end(sf_hub *h, const struct sf_msg *exit)
{
	sf_loop_timer_clear(h->a.loop, &h->grow_timer);     /* told with EXIT */
	h->exit = *exit;
	h->ended = true;
	push_all(h);
}

void
sf_hub_stop(sf_hub *h, bool drop_all)
{
	struct client *c, *next;

	h->stopping = true;
	h->dropping = drop_all;
	if (drop_all)
		for (c = h->head; c != NULL; c = next) {
			next = c->next;
			if (!c->control)
				drop(c);
		}
	/* Take in what already queued; the listener closes once it is empty. */
	if (h->a.listenfd != -1)
		accept_ready(h, h->a.listenfd, SF_LOOP_READ);
}

size_t
sf_hub_clients(const sf_hub *h)
{
	return h->n - h->ncontrol;
}

bool
sf_hub_idle(const sf_hub *h)
{
	return h->n == h->ncontrol && h->drained;
}

size_t
sf_hub_attached(const sf_hub *h)
{
	const struct client *c;
	size_t n = 0;

	for (c = h->head; c != NULL; c = c->next)
		n += c->live;
	return n;
}

void
sf_hub_free(sf_hub *h)
{
	if (h == NULL)
		return;
	sf_loop_timer_clear(h->a.loop, &h->grow_timer);
	while (h->head != NULL)
		drop(h->head);
	if (h->a.listenfd != -1)
		close_listener(h);
	free(h);
}
