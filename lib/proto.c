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
	return how >= SF_END_EXITED && how <= SF_END_FAILED;
}

int
sf_proto_encode(const struct sf_msg *m, uint8_t *buf, size_t size)
{
	uint8_t *p = buf + SF_PROTO_HEADER;
	size_t len;

	if (size < SF_PROTO_MAX_FRAME)
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
	    buf[0] != SF_MSG_EXIT && buf[0] != SF_MSG_CACHE)
		goto bad;
	if (len >= 2 && buf[1] != 0)
		goto bad;
	if (len < SF_PROTO_HEADER)
		return 0;
	plen = sf_be_get16(buf + 2);
	switch (buf[0]) {
	case SF_MSG_HELLO:   if (plen != HELLO_LEN) goto bad; break;
	case SF_MSG_WELCOME: if (plen != WELCOME_LEN) goto bad; break;
	case SF_MSG_REFUSE:  if (plen != REFUSE_LEN) goto bad; break;
	case SF_MSG_SPOOL:   if (plen != SPOOL_LEN) goto bad; break;
	case SF_MSG_DATA:    if (plen != DATA_LEN) goto bad; break;
	case SF_MSG_NOTE:    if (plen != NOTE_LEN) goto bad; break;
	case SF_MSG_CACHE:   if (plen != CACHE_LEN) goto bad; break;
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
