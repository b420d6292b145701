/*
 * slow_lookup.c - guard a slow lookup with a singleflight group.
 *
 * Eight request threads want the same user record at the same moment.
 * Without the group each would ask the slow backend; with it, the first
 * asks and the others wait for its answer and share it.  Quoted in
 * singleflight(3), EXAMPLES.  Build: cc slow_lookup.c $(pkg-config --cflags
 * --libs singleflight)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <singleflight.h>

static sf_group *users;
static atomic_int backend_calls;

/* fetch_user stands for the slow backend: a database, an origin server. */
static int
fetch_user(sf_ctx *ctx, void *arg, void **value)
{
	struct timespec slow = { 0, 200 * 1000 * 1000 };
	char *record;

	(void)ctx;
	atomic_fetch_add(&backend_calls, 1);
	nanosleep(&slow, NULL);
	if ((record = malloc(64)) == NULL)
		return ENOMEM;
	snprintf(record, 64, "%s:x:1000:1000::/home/%s:/bin/sh",
	    (char *)arg, (char *)arg);
	*value = record;                /* freed by the group's value_free */
	return 0;
}

static void *
handle_request(void *arg)
{
	sf_result *r = sf_do(users, "alice", fetch_user, "alice");

	(void)arg;
	if (r == NULL || sf_result_err(r) != 0) {
		sf_result_release(r);
		return "lookup failed";
	}
	printf("%s%s\n", (char *)sf_result_value(r),
	    sf_result_shared(r) ? " (shared)" : "");
	sf_result_release(r);
	return NULL;
}

int
main(void)
{
	pthread_t t[8];
	int status = 0;
	void *failed;

	if ((users = sf_group_new(free)) == NULL)
		return 1;
	for (int i = 0; i < 8; i++)
		if (pthread_create(&t[i], NULL, handle_request, NULL) != 0)
			return 1;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], &failed);
		if (failed != NULL) {
			fprintf(stderr, "slow_lookup: %s\n", (char *)failed);
			status = 1;
		}
	}
	printf("8 requests, %d backend call(s)\n", atomic_load(&backend_calls));
	sf_group_free(users);
	return status;
}
