/*
 * fuzz_proto.c — the frame decoder, as both peers use it.
 *
 * The bytes are a stream from a peer.  They are decoded frame by frame as
 * the client does (a buffer of two frames), as a control client does (one
 * answer of up to SF_PROTO_MAX_BIG bytes, arriving in pieces, control.c),
 * and as the runner does for a HELLO and a control request (one frame at
 * most each, arriving in pieces).  Every frame that decodes must encode
 * back to the very same bytes, and a STATUS's key and arguments must lie
 * inside the frame: the decoder accepts nothing the encoder could not have
 * written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
stream(const uint8_t *data, size_t size)
{
	static uint8_t re[SF_PROTO_MAX_BIG];
	struct sf_msg m;
	int len, relen;

	while (size > 0) {
		len = sf_proto_decode(data, size, &m);
		if (len <= 0)
			return;
		if ((size_t)len > size || len > SF_PROTO_MAX_BIG ||
		    (m.type != SF_MSG_STATUS && len > SF_PROTO_MAX_FRAME))
			abort();
		if (m.type == SF_MSG_STATUS &&
		    (m.u.status.key + m.u.status.keylen > data + len ||
		    m.u.status.argv + m.u.status.argvlen > data + len ||
		    (m.u.status.keylen > 0 && m.u.status.key < data) ||
		    (m.u.status.argvlen > 0 && m.u.status.argv < data)))
			abort();
		relen = sf_proto_encode(&m, re, sizeof(re));
		if (relen != len || memcmp(re, data, (size_t)len) != 0)
			abort();
		data += len;
		size -= (size_t)len;
	}
}

static void
runner_hello(const uint8_t *data, size_t size)
{
	uint8_t in[SF_PROTO_MAX_FRAME];
	size_t inlen = 0, take;
	struct sf_msg m;
	int len;

	/* Arrives in pieces of up to 7 bytes, like a slow peer. */
	while (size > 0) {
		take = size < 7 ? size : 7;
		if (take > sizeof(in) - inlen)
			return;     /* the runner drops such a peer */
		memcpy(in + inlen, data, take);
		inlen += take;
		data += take;
		size -= take;
		len = sf_proto_decode(in, inlen, &m);
		if (len != 0)
			return;     /* decided: HELLO or drop */
	}
}

/* A control client's answer, arriving in pieces of up to 61 bytes into
 * its buffer (control.c ask): one frame, or the buffer fills and that is
 * garbage. */
static void
control_answer(const uint8_t *data, size_t size)
{
	static uint8_t in[SF_PROTO_MAX_BIG];
	size_t inlen = 0, take;
	struct sf_msg m;
	int len;

	while (size > 0 && inlen < sizeof(in)) {
		take = size < 61 ? size : 61;
		if (take > sizeof(in) - inlen)
			take = sizeof(in) - inlen;
		memcpy(in + inlen, data, take);
		inlen += take;
		data += take;
		size -= take;
		len = sf_proto_decode(in, inlen, &m);
		if (len < 0)
			return;
		if (len > 0) {
			if ((size_t)len > inlen)
				abort();
			return;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stream(data, size);
	runner_hello(data, size);
	control_answer(data, size);
	return 0;
}
