/*
 * fuzz_client.c — the client's reading of a runner's stream, end to end.
 *
 * A flight handle is made by hand around one end of a socketpair; the
 * fuzzer's bytes are what the "runner" wrote before closing.  The client
 * must come out with an outcome or an error, never crash, hang, or write
 * anything it was not given a spool for.  No descriptors are sent, so every
 * SPOOL frame lacks its descriptor and must be refused.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_outcome oc;
	char cause[256];
	sf_flight *f;
	int sv[2], null;

	if (size > 65536)
		return 0;   /* must fit the socket buffer: we write, then read */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	f = calloc(1, sizeof(*f));
	f->fd = sv[0];
	f->spool[0] = f->spool[1] = -1;
	f->relay = f->tty = -1;
	f->role = SF_JOINED;
	f->deadline = sf_clock_ms() + 1000;
	if (sf_flight_stream(f, null, null, &oc, cause, sizeof(cause)) == 0 &&
	    oc.how == SF_END_TIMEOUT)
		abort();    /* the peer closed: there is nothing to wait for */
	sf_flight_close(f);
	close(null);
	return 0;
}
