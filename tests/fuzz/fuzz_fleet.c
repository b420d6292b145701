/*
 * fuzz_fleet.c — what a follower takes from Redis (fleet.c), which anyone
 * who can write to that Redis controls: the bytes are Redis's answers to
 * XREAD, in RESP, parsed by hiredis's reader as the runner's connection
 * parses them, then handed to the follower one by one.  A first line (up
 * to a newline, at most 400 bytes) is a lease value for parse_lease.
 *
 * It must never crash; what it appends to the spools must be what it
 * counted, and an end it accepts must agree with what came.
 *
 * fleet.c is included whole, so its static functions are reached without
 * a Redis (the follower's connection is NULL: it sends nothing).  The
 * fleet.o of the library is then never pulled in by the linker.
 */
#include "../../lib/fleet.c"

#include <fcntl.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/sf-fuzz-fleet-XXXXXX";
static int dfd = -1;
static sf_loop *loop;

static void
setup(void)
{
	if (mkdtemp(dir) == NULL ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (loop = sf_loop_new()) == NULL)
		abort();
	rmdir(dir);     /* the spools are unnamed: nothing to clean up */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sf_fleet_conf conf = { .url = "unix:///fuzz",
	    .prefix = "sfexec:", .lease_ms = 3000, .max_bytes = 1 << 20 };
	struct sf_fleet f;
	struct sf_output out;
	struct sf_fleet_impl *m;
	const uint8_t *nl;
	redisReader *rd;
	void *reply;
	size_t n;

	if (dfd == -1)
		setup();
	memset(&f, 0, sizeof(f));
	if (sf_output_init(&out, dfd) == -1 || (m = calloc(1, sizeof(*m))) == NULL)
		abort();
	f.loop = loop;
	f.conf = &conf;
	f.name = "0123456789abcdef0123456789abcdef";
	f.out = &out;
	f.impl = m;
	f.role = SF_FLEET_FOLLOWER;
	sf_order_init(&m->order);
	snprintf(m->base, sizeof(m->base), "sfexec:{%s}:", f.name);
	snprintf(m->last_id, sizeof(m->last_id), "0-0");
	m->lease_ms = m->poll_ms = 1000;

	nl = memchr(data, '\n', size < 401 ? size : 401);
	n = nl != NULL ? (size_t)(nl - data) : 0;
	if (parse_lease(&f, (const char *)data, n) == -1)
		snprintf(m->k_out, sizeof(m->k_out), "sfexec:{%s}:1:out", f.name);
	else if (f.fence == 0 && f.host[0] == '\0')
		abort();        /* accepted, so it named a host */
	if (nl != NULL) {
		data += n + 1;
		size -= n + 1;
	}

	if ((rd = redisReaderCreate()) == NULL)
		abort();
	sf_redis_bound_reader(rd, NULL);    /* as the runner's connection is */
	if (redisReaderFeed(rd, (const char *)data, size) != REDIS_OK)
		abort();
	while (!f.done && redisReaderGetReply(rd, &reply) == REDIS_OK &&
	    reply != NULL) {
		on_read(&f, reply);
		freeReplyObject(reply);
		if (out.size[0] != m->got[0] || out.size[1] != m->got[1])
			abort();
	}
	if (f.done && f.exit.u.exit.how != SF_END_FLEET &&
	    (f.exit.u.exit.size[0] != m->got[0] ||
	    f.exit.u.exit.size[1] != m->got[1] ||
	    f.exit.u.exit.how < SF_END_EXITED || f.exit.u.exit.how > SF_END_FAILED))
		abort();
	redisReaderFree(rd);
	sf_fleet_free(&f);
	sf_output_free(&out);
	return 0;
}
