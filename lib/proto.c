/* proto.c — frame encoding and decoding; see proto.h for the layout. */
#include <errno.h>
#include <string.h>

#include "be.h"
#include "proto.h"

#define HELLO_LEN   (2 + 2 + SF_DIGEST_LEN)
#define WELCOME_LEN (2 + 2 + 4 + 4 + 4)
#define REFUSE_LEN  1
#define SPOOL_LEN   1
#define DATA_LEN    (1 + 8)
#define NOTE_LEN    (1 + 1)
#define EXIT_LEN    (1 + 4 + 4 + 8 + 8 + 8)
#define CACHE_LEN   (8 + 1)
#define CANCEL_LEN  4
#define DONE_LEN    1
#define STATUS_LEN  SF_PROTO_STATUS_FIXED
#define STATUS_FLAGS (SF_STATUS_DERIVED | SF_STATUS_ARGV_CUT | SF_STATUS_ENDED)
#define ORDER_SHIFT 62
#define ORDER_MAX   ((1ULL << ORDER_SHIFT) - 1)


static int
valid_stream(uint8_t s)
{
	return s == SF_STDOUT || s == SF_STDERR || s == SF_ORDER;
}

/* The order index grows by whole records. */
static int
valid_end(uint8_t s, uint64_t end)
{
	return s != SF_ORDER || end % SF_ORDER_RECORD == 0;
}

static int
valid_note(uint8_t what, uint8_t sig)
{
	return (what == SF_NOTE_STOPPED && sig != 0) ||
	    (what == SF_NOTE_CONTINUED && sig == 0);
}

static int
valid_how(uint8_t how)
{
	return how >= SF_END_EXITED && how <= SF_END_BUSY;
}

/* STATUS's fields agree with each other (proto.h). */
static int
valid_status(uint8_t state, uint8_t flags, uint8_t how, size_t keylen,
    const uint8_t *argv, size_t argvlen)
{
	if (state < SF_STATE_RUNNING || state > SF_STATE_FORGOTTEN ||
	    (flags & ~STATUS_FLAGS) != 0)
		return 0;
	if ((flags & SF_STATUS_ENDED) ? !valid_how(how) : how != 0)
		return 0;
	if ((flags & SF_STATUS_DERIVED) ? keylen != 0 :
	    keylen < 1 || keylen > SF_PROTO_MAX_KEY)
		return 0;
	return argvlen <= SF_PROTO_MAX_ARGV &&
	    (argvlen == 0 || argv[argvlen - 1] == '\0');
}

int
sf_proto_encode(const struct sf_msg *m, uint8_t *buf, size_t size)
{
	uint8_t *p = buf + SF_PROTO_HEADER;
	size_t len;

	if (size < SF_PROTO_MAX_FRAME || (m->type == SF_MSG_STATUS && size <
	    SF_PROTO_HEADER + STATUS_LEN + (size_t)m->u.status.keylen +
	    m->u.status.argvlen))
		goto invalid;
	switch (m->type) {
	case SF_MSG_HELLO:
		p = sf_be_put16(p, m->u.hello.version);
		p = sf_be_put16(p, m->u.hello.flags);
		memcpy(p, m->u.hello.digest, SF_DIGEST_LEN);
		p += SF_DIGEST_LEN;
		break;
	case SF_MSG_WELCOME:
		p = sf_be_put16(p, m->u.welcome.version);
		p = sf_be_put16(p, m->u.welcome.flags);
		p = sf_be_put32(p, m->u.welcome.runner);
		p = sf_be_put32(p, m->u.welcome.starter);
		p = sf_be_put32(p, m->u.welcome.pgid);
		memcpy(p, m->u.welcome.notice, m->u.welcome.noticelen);
		p += m->u.welcome.noticelen;
		break;
	case SF_MSG_REFUSE:
		*p++ = m->u.refuse.reason;
		break;
	case SF_MSG_SPOOL:
		if (!valid_stream(m->u.spool.stream))
			goto invalid;
		*p++ = m->u.spool.stream;
		break;
	case SF_MSG_DATA:
		if (!valid_stream(m->u.data.stream) ||
		    !valid_end(m->u.data.stream, m->u.data.end))
			goto invalid;
		*p++ = m->u.data.stream;
		p = sf_be_put64(p, m->u.data.end);
		break;
	case SF_MSG_NOTE:
		if (!valid_note(m->u.note.what, m->u.note.sig))
			goto invalid;
		*p++ = m->u.note.what;
		*p++ = m->u.note.sig;
		break;
	case SF_MSG_EXIT:
		if (!valid_how(m->u.exit.how) ||
		    !valid_end(SF_ORDER, m->u.exit.size[2]))
			goto invalid;
		*p++ = m->u.exit.how;
		p = sf_be_put32(p, (uint32_t)m->u.exit.code);
		p = sf_be_put32(p, (uint32_t)m->u.exit.err);
		p = sf_be_put64(p, m->u.exit.size[0]);
		p = sf_be_put64(p, m->u.exit.size[1]);
		p = sf_be_put64(p, m->u.exit.size[2]);
		memcpy(p, m->u.exit.name, m->u.exit.namelen);
		p += m->u.exit.namelen;
		break;
	case SF_MSG_CACHE:
		if (m->u.cache.flags & ~SF_CACHE_FAILURES)
			goto invalid;
		p = sf_be_put64(p, m->u.cache.keep_ms);
		*p++ = m->u.cache.flags;
		break;
	case SF_MSG_QUERY:
	case SF_MSG_FORGET:
		break;
	case SF_MSG_CANCEL:
		p = sf_be_put32(p, m->u.cancel.grace_ms);
		break;
	case SF_MSG_DONE:
		if (m->u.done.done > 1)
			goto invalid;
		*p++ = m->u.done.done;
		break;
	case SF_MSG_STATUS:
		if (!valid_status(m->u.status.state, m->u.status.flags,
		    m->u.status.how, m->u.status.keylen, m->u.status.argv,
		    m->u.status.argvlen))
			goto invalid;
		*p++ = m->u.status.state;
		*p++ = m->u.status.flags;
		p = sf_be_put32(p, m->u.status.runner);
		p = sf_be_put32(p, m->u.status.invocations);
		p = sf_be_put64(p, (uint64_t)m->u.status.started_ns);
		p = sf_be_put64(p, (uint64_t)m->u.status.ended_ns);
		p = sf_be_put64(p, m->u.status.size[0]);
		p = sf_be_put64(p, m->u.status.size[1]);
		*p++ = m->u.status.how;
		p = sf_be_put32(p, (uint32_t)m->u.status.code);
		p = sf_be_put16(p, m->u.status.keylen);
		if (m->u.status.keylen > 0)
			memcpy(p, m->u.status.key, m->u.status.keylen);
		p += m->u.status.keylen;
		p = sf_be_put16(p, m->u.status.argvlen);
		if (m->u.status.argvlen > 0)
			memcpy(p, m->u.status.argv, m->u.status.argvlen);
		p += m->u.status.argvlen;
		break;
	default:
		goto invalid;
	}
	len = (size_t)(p - buf) - SF_PROTO_HEADER;
	buf[0] = (uint8_t)m->type;
	buf[1] = 0;
	sf_be_put16(buf + 2, (uint16_t)len);
	return (int)(len + SF_PROTO_HEADER);
invalid:
	errno = EINVAL;
	return -1;
}

/* STATUS's payload (plen bytes at p, at least STATUS_LEN) into m. */
static int
decode_status(const uint8_t *p, size_t plen, struct sf_msg *m)
{
	size_t keylen, argvlen;

	m->u.status.state = p[0];
	m->u.status.flags = p[1];
	m->u.status.runner = sf_be_get32(p + 2);
	m->u.status.invocations = sf_be_get32(p + 6);
	m->u.status.started_ns = (int64_t)sf_be_get64(p + 10);
	m->u.status.ended_ns = (int64_t)sf_be_get64(p + 18);
	m->u.status.size[0] = sf_be_get64(p + 26);
	m->u.status.size[1] = sf_be_get64(p + 34);
	m->u.status.how = p[42];
	m->u.status.code = (int32_t)sf_be_get32(p + 43);
	keylen = sf_be_get16(p + 47);
	/* The key, then the argv's length: both must be inside plen. */
	if (STATUS_LEN + keylen > plen)
		return -1;
	argvlen = sf_be_get16(p + 49 + keylen);
	if (STATUS_LEN + keylen + argvlen != plen)
		return -1;
	m->u.status.keylen = (uint16_t)keylen;
	m->u.status.key = p + 49;
	m->u.status.argvlen = (uint16_t)argvlen;
	m->u.status.argv = p + 51 + keylen;
	if (!valid_status(p[0], p[1], p[42], keylen, m->u.status.argv, argvlen))
		return -1;
	return 0;
}

int
sf_proto_decode(const uint8_t *buf, size_t len, struct sf_msg *m)
{
	const uint8_t *p = buf + SF_PROTO_HEADER;
	size_t plen;

	/* Judge the header as soon as its bytes arrive, so a peer announcing an
	 * impossible frame is dropped at once instead of being waited for. */
	if (len >= 1 && buf[0] != SF_MSG_HELLO && buf[0] != SF_MSG_WELCOME &&
	    buf[0] != SF_MSG_REFUSE && buf[0] != SF_MSG_SPOOL &&
	    buf[0] != SF_MSG_DATA && buf[0] != SF_MSG_NOTE &&
	    buf[0] != SF_MSG_EXIT && buf[0] != SF_MSG_CACHE &&
	    buf[0] != SF_MSG_QUERY && buf[0] != SF_MSG_STATUS &&
	    buf[0] != SF_MSG_FORGET && buf[0] != SF_MSG_CANCEL &&
	    buf[0] != SF_MSG_DONE)
		goto bad;
	if (len >= 2 && buf[1] != 0)
		goto bad;
	if (len < SF_PROTO_HEADER)
		return 0;
	plen = sf_be_get16(buf + 2);
	switch (buf[0]) {
	case SF_MSG_HELLO:   if (plen != HELLO_LEN) goto bad; break;
	case SF_MSG_WELCOME:
		if (plen < WELCOME_LEN || plen > WELCOME_LEN + SF_PROTO_MAX_NAME)
			goto bad;
		break;
	case SF_MSG_REFUSE:  if (plen != REFUSE_LEN) goto bad; break;
	case SF_MSG_SPOOL:   if (plen != SPOOL_LEN) goto bad; break;
	case SF_MSG_DATA:    if (plen != DATA_LEN) goto bad; break;
	case SF_MSG_NOTE:    if (plen != NOTE_LEN) goto bad; break;
	case SF_MSG_CACHE:   if (plen != CACHE_LEN) goto bad; break;
	case SF_MSG_QUERY:
	case SF_MSG_FORGET:  if (plen != 0) goto bad; break;
	case SF_MSG_CANCEL:  if (plen != CANCEL_LEN) goto bad; break;
	case SF_MSG_DONE:    if (plen != DONE_LEN) goto bad; break;
	case SF_MSG_STATUS:
		if (plen < STATUS_LEN || plen > SF_PROTO_MAX_BIG - SF_PROTO_HEADER)
			goto bad;
		break;
	case SF_MSG_EXIT:
		if (plen < EXIT_LEN || plen > EXIT_LEN + SF_PROTO_MAX_NAME)
			goto bad;
		break;
	}
	if (len < SF_PROTO_HEADER + plen)
		return 0;

	memset(m, 0, sizeof(*m));
	m->type = (enum sf_msg_type)buf[0];
	switch (m->type) {
	case SF_MSG_HELLO:
		m->u.hello.version = sf_be_get16(p);
		m->u.hello.flags = sf_be_get16(p + 2);
		memcpy(m->u.hello.digest, p + 4, SF_DIGEST_LEN);
		break;
	case SF_MSG_WELCOME:
		m->u.welcome.version = sf_be_get16(p);
		m->u.welcome.flags = sf_be_get16(p + 2);
		m->u.welcome.runner = sf_be_get32(p + 4);
		m->u.welcome.starter = sf_be_get32(p + 8);
		m->u.welcome.pgid = sf_be_get32(p + 12);
		m->u.welcome.noticelen = (uint8_t)(plen - WELCOME_LEN);
		memcpy(m->u.welcome.notice, p + WELCOME_LEN, m->u.welcome.noticelen);
		m->u.welcome.notice[m->u.welcome.noticelen] = '\0';
		break;
	case SF_MSG_REFUSE:
		m->u.refuse.reason = p[0];
		break;
	case SF_MSG_SPOOL:
		m->u.spool.stream = p[0];
		if (!valid_stream(p[0]))
			goto bad;
		break;
	case SF_MSG_DATA:
		m->u.data.stream = p[0];
		if (!valid_stream(p[0]))
			goto bad;
		m->u.data.end = sf_be_get64(p + 1);
		if (!valid_end(p[0], m->u.data.end))
			goto bad;
		break;
	case SF_MSG_NOTE:
		m->u.note.what = p[0];
		m->u.note.sig = p[1];
		if (!valid_note(p[0], p[1]))
			goto bad;
		break;
	case SF_MSG_EXIT:
		m->u.exit.how = p[0];
		if (!valid_how(p[0]))
			goto bad;
		m->u.exit.code = (int32_t)sf_be_get32(p + 1);
		m->u.exit.err = (int32_t)sf_be_get32(p + 5);
		m->u.exit.size[0] = sf_be_get64(p + 9);
		m->u.exit.size[1] = sf_be_get64(p + 17);
		m->u.exit.size[2] = sf_be_get64(p + 25);
		if (!valid_end(SF_ORDER, m->u.exit.size[2]))
			goto bad;
		m->u.exit.namelen = (uint8_t)(plen - EXIT_LEN);
		memcpy(m->u.exit.name, p + EXIT_LEN, m->u.exit.namelen);
		m->u.exit.name[m->u.exit.namelen] = '\0';
		break;
	case SF_MSG_CACHE:
		m->u.cache.keep_ms = sf_be_get64(p);
		m->u.cache.flags = p[8];
		if (p[8] & ~SF_CACHE_FAILURES)
			goto bad;
		break;
	case SF_MSG_QUERY:
	case SF_MSG_FORGET:
		break;
	case SF_MSG_CANCEL:
		m->u.cancel.grace_ms = sf_be_get32(p);
		break;
	case SF_MSG_DONE:
		m->u.done.done = p[0];
		if (p[0] > 1)
			goto bad;
		break;
	case SF_MSG_STATUS:
		if (decode_status(p, plen, m) == -1)
			goto bad;
		break;
	}
	return (int)(SF_PROTO_HEADER + plen);
bad:
	errno = EPROTO;
	return -1;
}

void
sf_proto_order_put(uint8_t rec[SF_ORDER_RECORD], int stream, uint64_t end)
{
	sf_be_put64(rec, (uint64_t)stream << ORDER_SHIFT | (end & ORDER_MAX));
}

int
sf_proto_order_get(const uint8_t rec[SF_ORDER_RECORD], int *stream,
    uint64_t *end)
{
	uint64_t v = sf_be_get64(rec);

	*stream = (int)(v >> ORDER_SHIFT);
	*end = v & ORDER_MAX;
	if (*stream != SF_STDOUT && *stream != SF_STDERR) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

size_t
sf_proto_pack_argv(char *const argv[], uint8_t *out, size_t cap, int *cut)
{
	size_t len = 0, n;
	int i;

	*cut = 0;
	if (cap > SF_PROTO_MAX_ARGV)
		cap = SF_PROTO_MAX_ARGV;
	for (i = 0; argv != NULL && argv[i] != NULL; i++) {
		n = strlen(argv[i]);
		if (len + n + 1 > cap) {
			/* Cut to fit, if a byte of it fits at all. */
			*cut = 1;
			if (len + 1 < cap) {
				n = cap - len - 1;
				memcpy(out + len, argv[i], n);
				out[len + n] = '\0';
				len += n + 1;
			}
			break;
		}
		memcpy(out + len, argv[i], n + 1);
		len += n + 1;
	}
	return len;
}
