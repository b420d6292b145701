/*
 * client.h — one invocation's side of a flight: connect to the runner,
 * say HELLO, take the WELCOME, then stream the spools (sfexec.h).
 */
#ifndef SF_CLIENT_H
#define SF_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "order.h"
#include "sfexec.h"

struct sf_flight {
	int fd;                     /* connection to the runner */
	int spool[2];               /* read-only stdout and stderr spools, or -1 */
	int fdq[3], nfdq;           /* descriptors received, not yet claimed */
	uint64_t off[2];            /* bytes of each already written out */
	uint64_t told[2];           /* bytes of each announced */
	bool order_asked;           /* HELLO asked for the order index */
	struct sf_order order;      /* the order index, if asked for */
	sf_flight_note_fn *note;    /* sf_flight_on_note's, or NULL */
	void *note_arg;
	enum sf_role role;
	pid_t runner;               /* the kernel's word (SO_PEERCRED), 0 if unseen */
	pid_t starter;              /* 0 unless the runner shares our PID namespace */
	pid_t pgid;                 /* the command's group, likewise */
	long long deadline;         /* clock.h milliseconds; -1: none */
	long long age;              /* a replayed result's age (ms) */
	char notice[SF_PROTO_MAX_NAME + 1]; /* WELCOME's, or "" */
	bool notice_verbose;        /* ... to be said under -v only */
	int relay;                  /* the starter: write end of the command's
	                               stdin, fed from our terminal; or -1 */
	int tty;                    /* our terminal, opened non-blocking; or -1 */
	size_t rlen, roff;          /* typed, not yet in the relay */
	uint8_t rbuf[4096];
	size_t inlen;
	uint8_t in[2 * SF_PROTO_MAX_FRAME];
};

/*
 * sf_client_new — a flight handle around the connected fd, attached to
 * nothing yet (no spool, no relay); NULL/errno, and then fd is left open.
 */
sf_flight *sf_client_new(int fd, enum sf_role role, long long deadline);

/*
 * sf_client_hello — say HELLO on fd and wait for the answer, until deadline
 * (clock.h; -1: none).  Returns a new flight (which owns fd and keeps the
 * deadline) once welcomed; NULL with ECONNRESET when the runner closed first
 * (the flight was ending: try again), ETIMEDOUT, EPROTO for a refusal or
 * garbage (cause says which).  fd is closed on failure.  HELLO asks for
 * the order index when this process's stdout and stderr (descriptors 1
 * and 2) are one open file description (sf_flight_stream).  When
 * o->cache_keep_ms > 0, CACHE follows WELCOME (proto.h) with o->cachefd.
 */
sf_flight *sf_client_hello(int fd, const struct sf_opts *o, enum sf_role role,
    long long deadline, char *cause, size_t causelen);

#endif
