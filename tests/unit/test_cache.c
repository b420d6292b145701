/* test_cache.c — cache entries: stored from spools, found again, and every
 * kind of damage a miss that removes the entry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "key.h"
#include "spool.h"

struct fixture {
	char dir[64];
	int dfd;
	struct sf_key key;
	int spool[3][2];            /* reader, writer, as sf_spool_open */
	struct sf_cache_result res;
};

static const char OUT[] = "stdout bytes\n\0with a NUL\n";
static const char ERR[] = "stderr\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t rec[SF_ORDER_RECORD];
	int s;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sf-cache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dfd > 2);
	assert_int_equal(sf_key_from_bytes(&f->key, "the key", 7), 0);
	for (s = 0; s < 3; s++)
		assert_int_equal(sf_spool_open(f->dfd, f->spool[s]), 0);
	assert_int_equal(pwrite(f->spool[0][1], OUT, sizeof(OUT), 0), sizeof(OUT));
	assert_int_equal(pwrite(f->spool[1][1], ERR, sizeof(ERR), 0), sizeof(ERR));
	sf_proto_order_put(rec, SF_STDOUT, sizeof(OUT));
	assert_int_equal(pwrite(f->spool[2][1], rec, sizeof(rec), 0), sizeof(rec));
	for (s = 0; s < 3; s++)
		f->res.spool[s] = f->spool[s][1];
	f->res.size[0] = sizeof(OUT);
	f->res.size[1] = sizeof(ERR);
	f->res.size[2] = SF_ORDER_RECORD;
	f->res.status = 0;
	f->res.ended_ns = sf_cache_now();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int s;

	for (s = 0; s < 3; s++) {
		close(f->spool[s][0]);
		close(f->spool[s][1]);
	}
	close(f->dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* How many names the directory holds. */
static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
assert_holds(int fd, const void *want, size_t n)
{
	char buf[256];

	assert_true(n <= sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
}

static void
path_of(const struct fixture *f, char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s/%s%s", f->dir, f->key.name, suffix);
}

/* Stored, found, the same bytes; the spools themselves were linked. */
static void
store_then_lookup(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	struct stat a, b;

	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	assert_int_equal(entries(f->dir), 4);   /* H.cache and three data */
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 1);
	assert_int_equal(e.status, 0);
	assert_holds(e.fd[0], OUT, sizeof(OUT));
	assert_holds(e.fd[1], ERR, sizeof(ERR));
	assert_true(e.size[2] == SF_ORDER_RECORD);
	assert_int_equal(fstat(e.fd[0], &a), 0);
	assert_int_equal(fstat(f->spool[0][1], &b), 0);
	assert_true(a.st_ino == b.st_ino);      /* no second copy */
	assert_int_equal(a.st_mode & 077, 0);
	assert_true(e.keep_until_ns - e.ended_ns == 60000LL * 1000000);
	sf_cache_entry_close(&e);
}

/* A new entry replaces the old one and its data files. */
static void
replace_removes_the_old_data(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;

	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	f->res.spool[1] = f->res.spool[2] = -1;         /* stdout only */
	f->res.size[1] = f->res.size[2] = 0;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	assert_int_equal(entries(f->dir), 2);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 1);
	assert_int_equal(e.fd[1], -1);
	assert_int_equal(e.fd[2], -1);
	sf_cache_entry_close(&e);
}

/* A failure never replaces a success still kept; it may replace a success
 * that is gone, and another failure. */
static void
failure_keeps_a_success(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;

	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	f->res.status = 3;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 0);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 1);
	assert_int_equal(e.status, 0);
	sf_cache_entry_close(&e);
	assert_int_equal(entries(f->dir), 4);
}

/* The path of the data file whose name ends in suffix. */
static void
data_file(const struct fixture *f, const char *suffix, char *buf, size_t len)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	size_t n, k = strlen(suffix);

	buf[0] = '\0';
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n > k && strcmp(de->d_name + n - k, suffix) == 0)
			snprintf(buf, len, "%s/%s", f->dir, de->d_name);
	}
	closedir(d);
	assert_true(buf[0] != '\0');
}

static void
remove_all_data(const struct fixture *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* Every byte of H.cache counts: any one changed is a miss, and the entry
 * and its data are removed. */
static void
every_damaged_byte_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	char path[128];
	uint8_t b[128], x;
	int i, fd;

	path_of(f, path, sizeof(path), ".cache");
	for (i = 0; i < 128; i++) {
		assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
		fd = open(path, O_RDWR);
		assert_int_equal(pread(fd, b, sizeof(b), 0), 128);
		x = (uint8_t)(b[i] ^ (1u << (i % 8)));
		assert_int_equal(pwrite(fd, &x, 1, i), 1);
		close(fd);
		assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
		/* with its generation damaged, its data are the sweep's */
		if (i >= 40 && i < 48) {
			assert_int_equal(entries(f->dir), 3);
			remove_all_data(f);
		}
		assert_int_equal(entries(f->dir), 0);
	}
}

/* Truncated or longer, foreign mode, a data file changed or gone, a
 * symbolic link: all misses, all removed, nothing followed. */
static void
damaged_files_are_misses(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	char path[128], data[160], target[160];
	int fd, n;

	path_of(f, path, sizeof(path), ".cache");
	for (n = 0; n < 6; n++) {
		assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
		switch (n) {
		case 0:
			assert_int_equal(truncate(path, 127), 0);
			break;
		case 1:
			fd = open(path, O_WRONLY | O_APPEND);
			assert_int_equal(write(fd, "x", 1), 1);
			close(fd);
			break;
		case 2:
			assert_int_equal(chmod(path, 0644), 0);
			break;
		case 3:         /* stdout's data one byte short */
			data_file(f, ".1", data, sizeof(data));
			assert_int_equal(truncate(data, sizeof(OUT) - 1), 0);
			break;
		case 4:         /* stderr's data gone */
			data_file(f, ".2", data, sizeof(data));
			assert_int_equal(unlink(data), 0);
			break;
		case 5:
			/* a link in its place: removed, its target untouched */
			snprintf(target, sizeof(target), "%s.target", f->dir);
			fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			close(fd);
			assert_int_equal(unlink(path), 0);
			assert_int_equal(symlink(target, path), 0);
			break;
		}
		assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
		if (n == 5) {
			assert_int_equal(access(path, F_OK), -1);
			assert_int_equal(access(target, F_OK), 0);
			unlink(target);
			/* the data files of the entry the link replaced stay
			 * until the sweep: only H.cache is judged here */
			continue;
		}
		assert_int_equal(entries(f->dir), 0);
	}
}

/* An entry past its keep_until, or stamped in the future, is a miss and
 * goes. */
static void
expired_and_future_entries_go(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;

	f->res.ended_ns = sf_cache_now() - 2000000000LL;   /* 2 s ago */
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 1000), 1);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
	assert_int_equal(entries(f->dir), 0);
	f->res.ended_ns = sf_cache_now() + 3600LL * 1000000000;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 7200000), 1);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
	assert_int_equal(entries(f->dir), 0);
}

/* Another key whose name collides is a miss that is left alone. */
static void
colliding_name_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	struct sf_key other = f->key;

	other.digest[31] ^= 1;                  /* same name, other key */
	assert_int_equal(sf_cache_store(f->dfd, &other, &f->res, 60000), 1);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
	assert_int_equal(entries(f->dir), 4);
	assert_int_equal(sf_cache_lookup(f->dfd, &other, &e), 1);
	sf_cache_entry_close(&e);
}

/* A cache directory on another file system gets a copy. */
static void
another_file_system_gets_a_copy(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	char other[] = "/dev/shm/sf-cache-XXXXXX", cmd[96];
	struct stat a, b;
	int ofd;

	if (stat("/dev/shm", &a) == -1 || stat(f->dir, &b) == -1 ||
	    a.st_dev == b.st_dev || mkdtemp(other) == NULL) {
		skip();
		return;
	}
	ofd = open(other, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sf_cache_store(ofd, &f->key, &f->res, 60000), 1);
	assert_int_equal(sf_cache_lookup(ofd, &f->key, &e), 1);
	assert_holds(e.fd[0], OUT, sizeof(OUT));
	assert_holds(e.fd[1], ERR, sizeof(ERR));
	assert_int_equal(fstat(e.fd[0], &a), 0);
	assert_int_equal(a.st_mode & 077, 0);
	sf_cache_entry_close(&e);
	close(ofd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", other);
	assert_int_equal(system(cmd), 0);
}

/* The sweep: expired entries and unnamed data go, a live entry and data
 * linked just now stay; once a minute at most. */
static void
sweep(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	struct sf_key live;
	char stray[160];
	int64_t now = sf_cache_now(), later = now + 120LL * 1000000000;
	int fd;

	assert_int_equal(sf_key_from_bytes(&live, "live", 4), 0);
	f->res.ended_ns = now;
	assert_int_equal(sf_cache_store(f->dfd, &live, &f->res, 3600000), 1);
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 1000), 1);
	/* a data file that no entry names (a crash before the rename) */
	snprintf(stray, sizeof(stray), "%s/%s.0123456789abcdef.1", f->dir,
	    f->key.name);
	fd = open(stray, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(entries(f->dir), 9);
	/* now: nothing is old enough, the short entry has 1 s to go */
	sf_cache_sweep_at(f->dfd, now);
	assert_int_equal(entries(f->dir), 10);  /* .sweep */
	/* two minutes on: the short entry and the stray go */
	sf_cache_sweep_at(f->dfd, later);
	assert_int_equal(entries(f->dir), 5);
	assert_int_equal(access(stray, F_OK), -1);
	assert_int_equal(sf_cache_lookup(f->dfd, &live, &e), 1);
	sf_cache_entry_close(&e);
	/* within a minute of the last sweep, nothing is looked at */
	fd = open(stray, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	sf_cache_sweep_at(f->dfd, later + 30LL * 1000000000);
	assert_int_equal(access(stray, F_OK), 0);
	sf_cache_sweep_at(f->dfd, later + 200LL * 1000000000);
	assert_int_equal(access(stray, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store_then_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(replace_removes_the_old_data, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_keeps_a_success, setup, teardown),
		cmocka_unit_test_setup_teardown(every_damaged_byte_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_files_are_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_and_future_entries_go, setup, teardown),
		cmocka_unit_test_setup_teardown(colliding_name_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(another_file_system_gets_a_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(sweep, setup, teardown),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
