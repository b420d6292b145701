/*
 * bench.c - libsingleflight's half of the C-against-Go comparison.
 *
 * The same two benchmarks as go/bench_test.go, measured the way Go's
 * testing package does: grow the iteration count until one run lasts at
 * least the bench time, then report wall-clock ns per operation.
 *
 *   distinct   one thread, sf_do on a different key each time (never joins)
 *   hot8       8 threads, sf_do on keys drawn at random from 16
 *
 * Usage: bench [-c count] [-t seconds]; prints "name iterations ns/op"
 * per run, count runs of each benchmark.
 */
#include "singleflight.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NDISTINCT  (1 << 16)   /* power of two, same as the Go side */
#define NHOT       16
#define NTHREADS   8

static char *distinct_keys[NDISTINCT];
static char *hot_keys[NHOT];
static int the_value;          /* what every fn returns, like Go's `value` */

static int
trivial(sf_ctx *ctx, void *arg, void **value)
{
	(void)ctx;
	(void)arg;
	*value = &the_value;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
check(sf_result *r)
{
	if (r == NULL) {
		fprintf(stderr, "bench: sf_do: %s\n", strerror(errno));
		exit(1);
	}
	if (sf_result_value(r) != &the_value || sf_result_err(r) != 0) {
		fprintf(stderr, "bench: wrong result\n");
		exit(1);
	}
	sf_result_release(r);
}

static double
run_distinct(long n)
{
	sf_group *g = sf_group_new(NULL);
	double t0, t1;

	if (g == NULL)
		exit(1);
	t0 = now();
	for (long i = 0; i < n; i++)
		check(sf_do(g, distinct_keys[i & (NDISTINCT - 1)], trivial, NULL));
	t1 = now();
	sf_group_free(g);
	return t1 - t0;
}

struct hot_arg {
	sf_group *g;
	pthread_barrier_t *start;
	long per;
	uint64_t seed;
};

static void *
hot_thread(void *p)
{
	struct hot_arg *a = p;
	uint64_t x = a->seed;

	pthread_barrier_wait(a->start);
	for (long i = 0; i < a->per; i++) {
		/* xorshift64, as on the Go side */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check(sf_do(a->g, hot_keys[x & (NHOT - 1)], trivial, NULL));
	}
	return NULL;
}

static double
run_hot(long n)
{
	struct hot_arg args[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t start;
	sf_group *g = sf_group_new(NULL);
	double t0, t1;

	if (g == NULL)
		exit(1);
	pthread_barrier_init(&start, NULL, NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct hot_arg){ g, &start, (n + NTHREADS - 1) / NTHREADS,
		    ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ull | 1 };
		if (pthread_create(&t[i], NULL, hot_thread, &args[i]) != 0) {
			fprintf(stderr, "bench: pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	t0 = now();
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	t1 = now();
	pthread_barrier_destroy(&start);
	sf_group_free(g);
	return t1 - t0;
}

/* bench grows n as Go's testing.B does, then prints the last run. */
static void
bench(const char *name, double (*run)(long), double benchtime)
{
	long n = 1;
	double d;

	for (;;) {
		d = run(n);
		if (d >= benchtime || n >= 1000000000L)
			break;
		double want = d > 0 ? benchtime * 1.2 * (double)n / d : (double)n * 100;
		long next = want > (double)n * 100 ? n * 100 : (long)want;
		n = next > n ? next : n + 1;
	}
	printf("%s %ld %.1f\n", name, n, d * 1e9 / (double)n);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	double benchtime = 1.0;
	int count = 1, opt;

	while ((opt = getopt(argc, argv, "c:t:")) != -1) {
		switch (opt) {
		case 'c':
			count = atoi(optarg);
			break;
		case 't':
			benchtime = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench [-c count] [-t seconds]\n");
			return 2;
		}
	}
	for (int i = 0; i < NDISTINCT; i++)
		if (asprintf(&distinct_keys[i], "key-%d", i) < 0)
			return 1;
	for (int i = 0; i < NHOT; i++)
		if (asprintf(&hot_keys[i], "hot-%d", i) < 0)
			return 1;
	for (int i = 0; i < count; i++) {
		bench("distinct", run_distinct, benchtime);
		bench("hot8", run_hot, benchtime);
	}
	for (int i = 0; i < NDISTINCT; i++)
		free(distinct_keys[i]);
	for (int i = 0; i < NHOT; i++)
		free(hot_keys[i]);
	return 0;
}
