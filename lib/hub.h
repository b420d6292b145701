/*
 * hub.h — the runner's fan-out to its clients: accept, HELLO, per-client
 * frame queues, SPOOL, DATA, NOTE and EXIT (proto.h), linger, flood control.
 *
 * The hub never knows where the bytes come from: it reads the sizes and the
 * read-only spools of an sf_output, and is told when they grew and how the
 * flight ended.  Every client socket is non-blocking and owes at most one
 * small frame buffer, refilled from the sizes only when empty, so a slow
 * client costs constant memory and never stalls the others.
 */
#ifndef SF_HUB_H
#define SF_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "output.h"
#include "proto.h"

typedef struct sf_hub sf_hub;

struct sf_hub_args {
	sf_loop *loop;
	const struct sf_output *out;
	uint8_t digest[SF_DIGEST_LEN];  /* the key; HELLO must match it */
	int listenfd;                   /* bound and listening; the hub owns it */
	uint32_t runner, starter, pgid; /* WELCOME's fields */
	const char *notice;             /* WELCOME's notice, or NULL */
	bool notice_verbose;            /* ... for -v only */
	/* Whether a connected peer may join: 0, or a reason (enum sf_refuse). */
	int (*admit)(void *arg, const struct ucred *peer);
	/* A client's CACHE (proto.h): called with its fields and the cache
	 * directory's descriptor, which the callee owns from then on.  The
	 * client gets EXIT only after this has returned. */
	void (*cache)(void *arg, uint64_t keep_ms, uint8_t flags, int dirfd);
	/* A control client's request (QUERY, FORGET, CANCEL; proto.h): fill
	 * answer (STATUS or DONE), which the hub sends before it closes.
	 * FORGET and CANCEL come only with the flight's own digest. */
	void (*control)(void *arg, const struct sf_msg *req, struct sf_msg *answer);
	void *arg;
};

/* sf_hub_new — a hub listening on a->listenfd; NULL/errno. */
sf_hub *sf_hub_new(const struct sf_hub_args *a);

/* sf_hub_add — take a connected socket (the starter's) as a new client,
 * which must say HELLO like any other.  Returns 0 or -1/errno. */
int sf_hub_add(sf_hub *h, int fd);

/* sf_hub_grew — the output grew: tell every client. */
void sf_hub_grew(sf_hub *h);

/* sf_hub_note — the command is stopped by signal stop_sig, or runs again
 * (0): tell every client, and every joiner while the stop lasts. */
void sf_hub_note(sf_hub *h, int stop_sig);

/* sf_hub_end — the flight ended as exit says: send it to every client,
 * after the last DATA; each then has LINGER to hang up. */
void sf_hub_end(sf_hub *h, const struct sf_msg *exit);

/*
 * sf_hub_stop — the caller has taken the socket's name away from joiners
 * (runner.c renames it for control clients): take in what already queued
 * on the listener, now.  With drop, every client but the control ones is
 * dropped, and so is every joiner from now on (the flight was abandoned).
 * The listener stays open for control clients until sf_hub_free.
 */
void sf_hub_stop(sf_hub *h, bool drop);

/* sf_hub_clients — connections open (welcomed or not yet), but for control
 * clients (they keep nothing alive). */
size_t sf_hub_clients(const sf_hub *h);

/* sf_hub_idle — since sf_hub_stop, every connection that queued has been
 * taken in (even under a descriptor limit, which only slows that down), and
 * nobody but control clients is connected. */
bool sf_hub_idle(const sf_hub *h);

/* sf_hub_attached — clients welcomed: invocations attached. */
size_t sf_hub_attached(const sf_hub *h);

void sf_hub_free(sf_hub *h);

#endif
