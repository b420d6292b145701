/*
 * fuzz_proto.c — the frame decoder, as both peers use it.
 *
 * The bytes are a stream from a peer.  They are decoded frame by frame as
 * the client does (a buffer of two frames), and as the runner does for a
 * HELLO (one frame at most, arriving in pieces).  Every frame that decodes
 * must encode back to the very same bytes: the decoder accepts nothing the
 * encoder could not have written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
stream(const uint8_t *data, size_t size)
{
	uint8_t re[SF_PROTO_MAX_FRAME];
	struct sf_msg m;
	int len, relen;

	while (size > 0) {
		len = sf_proto_decode(data, size, &m);
		if (len <= 0)
			return;
		if ((size_t)len > size || len > SF_PROTO_MAX_FRAME)
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stream(data, size);
	runner_hello(data, size);
	return 0;
}
