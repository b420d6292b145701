/*
 * fuzz_client.c — the client's reading of a runner's stream, end to end.
 *
 * A flight handle is made by hand around one end of a socketpair; the
 * fuzzer's bytes are what the "runner" wrote before closing.  The client
 * must come out with an outcome or an error, never crash, hang, or write
 * anything it was not given a spool for.  No descriptors are sent, so every
 * SPOOL frame lacks its descriptor and must be refused.
 *
 * An input that starts with ORDER_MAGIC is a flight whose invocation asked
 * for the order index and writes both streams through one output:
 *
 *     ORDER_MAGIC, u8 index length L, L bytes of the index, the stream
 *
 * Each SPOOL frame of the stream then carries a real spool: the index as
 * given, and stdout and stderr of SPOOL_BYTES bytes each, so the records
 * are read back and obeyed as an invocation would (order.c).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "unixsock.h"

#define ORDER_MAGIC 0xa5
#define SPOOL_BYTES 4096

static int
spool_of(const void *bytes, size_t len)
{
	int fd = memfd_create("spool", MFD_CLOEXEC);

	if (fd == -1 || (len > 0 && write(fd, bytes, len) != (ssize_t)len))
		abort();
	return fd;
}

static void
write_all(int sock, const uint8_t *p, size_t n)
{
	if (n > 0 && write(sock, p, n) != (ssize_t)n)
		abort();
}

/*
 * Write the stream, the first few SPOOL frames each with its spool on its
 * first byte (the rest go without, and must be refused).  Bytes between
 * them go in one write: every write is a buffer of its own in the socket,
 * and nobody reads before we are done.
 */
static void
send_with_spools(int sock, const uint8_t *data, size_t size, const int spool[3])
{
	const uint8_t *run = data;
	struct sf_msg m;
	int len, sent = 0;

	while (size > 0) {
		len = sf_proto_decode(data, size, &m);
		if (len <= 0)
			break;
		if (m.type == SF_MSG_SPOOL && sent < 8) {
			write_all(sock, run, (size_t)(data - run));
			if (sf_unixsock_send_fd(sock, data, (size_t)len,
			    spool[m.u.spool.stream - 1]) != len)
				abort();
			sent++;
			run = data + len;
		}
		data += len;
		size -= (size_t)len;
	}
	write_all(sock, run, (size_t)(data + size - run));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t outb[SPOOL_BYTES], errb[SPOOL_BYTES];
	struct sf_outcome oc;
	char cause[256];
	sf_flight *f;
	int sv[2], null, spool[3] = { -1, -1, -1 }, i, order = 0;
	size_t ilen;

	if (size > 65536)
		return 0;   /* must fit the socket buffer: we write, then read */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (size >= 2 && data[0] == ORDER_MAGIC && (size_t)data[1] <= size - 2) {
		order = 1;
		ilen = data[1];
		memset(outb, 'o', sizeof(outb));
		memset(errb, 'e', sizeof(errb));
		spool[0] = spool_of(outb, sizeof(outb));
		spool[1] = spool_of(errb, sizeof(errb));
		spool[2] = spool_of(data + 2, ilen);
		send_with_spools(sv[1], data + 2 + ilen, size - 2 - ilen, spool);
		for (i = 0; i < 3; i++)
			close(spool[i]);
	} else if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if ((f = sf_client_new(sv[0], SF_JOINED, sf_clock_ms() + 1000)) == NULL)
		abort();
	f->order_asked = order;
	if (sf_flight_stream(f, null, null, &oc, cause, sizeof(cause)) == 0 &&
	    oc.how == SF_END_TIMEOUT)
		abort();    /* the peer closed: there is nothing to wait for */
	sf_flight_close(f);
	close(null);
	return 0;
}
