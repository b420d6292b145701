/* test_cache.c — cache entries: stored from spools, found again, listed
 * with their key and command, forgotten, and every kind of damage a miss
 * that removes the entry (and that the list passes over). */
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

#define FIXED 136               /* H.cache's fixed header (cache.h) */

struct fixture {
	char dir[64];
	int dfd;
	struct sf_key key;
	int spool[3][2];            /* reader, writer, as sf_spool_open */
	struct sf_cache_result res;
};

static const char OUT[] = "stdout bytes\n\0with a NUL\n";
static const char ERR[] = "stderr\n";
static const char KEY[] = "the key";
static char *const ARGV[] = { "cmd", "--flag", "x y", NULL };
static const char PACKED[] = "cmd\0--flag\0x y";     /* and its last NUL */

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
	f->res.started_ns = f->res.ended_ns - 1500000000;
	f->res.key = (const uint8_t *)KEY;
	f->res.keylen = strlen(KEY);
	f->res.argv = ARGV;
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

	char path[128];
	struct stat c;

	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	assert_int_equal(entries(f->dir), 4);   /* H.cache and three data */
	path_of(f, path, sizeof(path), ".cache");
	assert_int_equal(stat(path, &c), 0);
	assert_int_equal(c.st_size, FIXED + strlen(KEY) + sizeof(PACKED));
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

/* Every byte of H.cache counts, the key and the command after the fixed
 * header too: any one changed is a miss, and the entry and its data are
 * removed. */
static void
every_damaged_byte_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	const int size = FIXED + sizeof(KEY) - 1 + sizeof(PACKED);
	char path[128];
	uint8_t x;
	int i, fd;

	path_of(f, path, sizeof(path), ".cache");
	for (i = 0; i < size; i++) {
		assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
		fd = open(path, O_RDWR);
		assert_int_equal(lseek(fd, 0, SEEK_END), size);
		assert_int_equal(pread(fd, &x, 1, i), 1);
		x = (uint8_t)(x ^ (1u << (i % 8)));
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

/* Truncated or longer (longer than any entry can be, too), foreign mode, a
 * data file changed or gone, a symbolic link: all misses, all removed,
 * nothing followed. */
static void
damaged_files_are_misses(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	char path[128], data[160], target[160];
	const off_t size = FIXED + sizeof(KEY) - 1 + sizeof(PACKED);
	int fd, n;

	path_of(f, path, sizeof(path), ".cache");
	for (n = 0; n < 8; n++) {
		assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
		switch (n) {
		case 0:
			assert_int_equal(truncate(path, size - 1), 0);
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
		case 5:         /* the fixed header alone */
			assert_int_equal(truncate(path, FIXED), 0);
			break;
		case 6:         /* past the longest entry: read in part only */
			assert_int_equal(truncate(path, FIXED + SF_PROTO_MAX_KEY +
			    SF_PROTO_MAX_ARGV + 1), 0);
			break;
		case 7:
			/* a link in its place: removed, its target untouched */
			snprintf(target, sizeof(target), "%s.target", f->dir);
			fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			close(fd);
			assert_int_equal(unlink(path), 0);
			assert_int_equal(symlink(target, path), 0);
			break;
		}
		assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
		if (n == 7) {
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

/* ---- sf_cache_list and sf_cache_forget ------------------------------- */

/* What a list saw; fail_at: fn fails (ECANCELED) on that call, 0 never. */
struct seen {
	int n, fail_at;
	struct sf_cache_info e[4];
};

static int
collect(void *arg, const struct sf_cache_info *e)
{
	struct seen *s = arg;

	assert_true(s->n < 4);
	s->e[s->n++] = *e;
	if (s->n == s->fail_at) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

static struct seen *
list(const struct fixture *f)
{
	struct seen *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(sf_cache_list(f->dfd, collect, s), 0);
	return s;
}

/* The directory's names, inodes and sizes, sorted, into buf. */
static void
snapshot(const struct fixture *f, char *buf, size_t len)
{
	struct dirent **names;
	struct stat st;
	size_t off = 0;
	int i, n;

	n = scandir(f->dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		assert_int_equal(fstatat(f->dfd, names[i]->d_name, &st,
		    AT_SYMLINK_NOFOLLOW), 0);
		off += (size_t)snprintf(buf + off, len - off, "%s %llu %lld\n",
		    names[i]->d_name, (unsigned long long)st.st_ino,
		    (long long)st.st_size);
		assert_true(off < len);
		free(names[i]);
	}
	free(names);
}

/* The key's bytes (a NUL and 0xff among them) and the arguments come back
 * exactly, with the rest of the entry. */
static void
list_gives_key_and_command(void **state)
{
	static const uint8_t key[] = { 'a', 0, 'b', 0xff, 0xff, 0 };
	static char *const argv[] = { "sh", "-c", "echo \xff", "", "last",
	    NULL };
	static const char packed[] = "sh\0-c\0echo \xff\0\0last";
	struct fixture *f = *state;
	struct sf_key k;
	struct seen *s;
	struct sf_cache_info *e;

	assert_int_equal(sf_key_from_bytes(&k, key, sizeof(key)), 0);
	f->res.key = key;
	f->res.keylen = sizeof(key);
	f->res.argv = argv;
	f->res.status = 7;
	assert_int_equal(sf_cache_store(f->dfd, &k, &f->res, 60000), 1);
	s = list(f);
	assert_int_equal(s->n, 1);
	e = &s->e[0];
	assert_string_equal(e->id, k.name);
	assert_false(e->derived);
	assert_false(e->argv_cut);
	assert_int_equal(e->keylen, sizeof(key));
	assert_memory_equal(e->key, key, sizeof(key));
	assert_int_equal(e->argvlen, sizeof(packed));
	assert_memory_equal(e->argv, packed, sizeof(packed));
	assert_int_equal(e->status, 7);
	assert_true(e->size[0] == sizeof(OUT) && e->size[1] == sizeof(ERR) &&
	    e->size[2] == SF_ORDER_RECORD);
	assert_true(e->started_ns == f->res.started_ns);
	assert_true(e->ended_ns == f->res.ended_ns);
	assert_true(e->keep_until_ns == f->res.ended_ns + 60000LL * 1000000);
	free(s);
}

/* A derived key (none given) lists as derived, an absent argv as empty. */
static void
list_derived_key(void **state)
{
	struct fixture *f = *state;
	struct seen *s;

	f->res.key = NULL;
	f->res.keylen = 0;
	f->res.argv = NULL;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	s = list(f);
	assert_int_equal(s->n, 1);
	assert_true(s->e[0].derived);
	assert_int_equal(s->e[0].keylen, 0);
	assert_int_equal(s->e[0].argvlen, 0);
	assert_false(s->e[0].argv_cut);
	free(s);
}

/* The longest key and a command cut to SF_PROTO_MAX_ARGV: the largest
 * entry there is, stored, listed, and found. */
static void
long_command_is_cut(void **state)
{
	struct fixture *f = *state;
	static uint8_t key[SF_PROTO_MAX_KEY];
	static char longarg[5000];
	char *argv[] = { "a", longarg, "b", NULL };
	struct sf_cache_entry ce;
	struct sf_cache_info *e;
	struct sf_key k;
	struct seen *s;
	char path[128];
	struct stat st;

	memset(key, 0xff, sizeof(key));
	memset(longarg, 'x', sizeof(longarg) - 1);
	assert_int_equal(sf_key_from_bytes(&k, key, sizeof(key)), 0);
	f->res.key = key;
	f->res.keylen = sizeof(key);
	f->res.argv = argv;
	assert_int_equal(sf_cache_store(f->dfd, &k, &f->res, 60000), 1);
	snprintf(path, sizeof(path), "%s/%s.cache", f->dir, k.name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, FIXED + SF_PROTO_MAX_KEY +
	    SF_PROTO_MAX_ARGV);
	s = list(f);
	assert_int_equal(s->n, 1);
	e = &s->e[0];
	assert_true(e->argv_cut);
	assert_int_equal(e->keylen, SF_PROTO_MAX_KEY);
	assert_memory_equal(e->key, key, sizeof(key));
	assert_int_equal(e->argvlen, SF_PROTO_MAX_ARGV);
	assert_memory_equal(e->argv, "a\0xxx", 5);
	assert_int_equal(e->argv[SF_PROTO_MAX_ARGV - 1], 0);
	assert_int_equal(e->argv[SF_PROTO_MAX_ARGV - 2], 'x');
	free(s);
	assert_int_equal(sf_cache_lookup(f->dfd, &k, &ce), 1);
	sf_cache_entry_close(&ce);
}

/* A key given with no bytes, or bytes said to be none: refused, nothing
 * left behind. */
static void
store_refuses_a_bad_key_length(void **state)
{
	struct fixture *f = *state;

	f->res.keylen = 0;
	errno = 0;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), -1);
	assert_int_equal(errno, EINVAL);
	f->res.keylen = SF_PROTO_MAX_KEY + 1;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), -1);
	f->res.key = NULL;
	f->res.keylen = 3;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(entries(f->dir), 0);
}

/* Rewrite the key's entry (stored without key and command: 136 bytes) as
 * the sound entry of format 1 that it would have been. */
static void
make_format_1(const struct fixture *f, const struct sf_key *k)
{
	uint8_t b[FIXED], sum[SF_DIGEST_LEN];
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.cache", f->dir, k->name);
	fd = open(path, O_RDWR);
	assert_int_equal(pread(fd, b, sizeof(b), 0), FIXED);
	assert_int_equal(b[5], 2);
	b[5] = 1;
	sf_sha256(b, 120, sum);
	memcpy(b + 120, sum, 8);
	assert_int_equal(pwrite(fd, b, 128, 0), 128);
	assert_int_equal(ftruncate(fd, 128), 0);
	close(fd);
}

/* An entry of format 1 (from before the key and command were kept) is a
 * miss, and goes with its data. */
static void
format_1_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	struct seen *s;

	f->res.key = NULL;
	f->res.keylen = 0;
	f->res.argv = NULL;
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	make_format_1(f, &f->key);
	s = list(f);
	assert_int_equal(s->n, 0);
	free(s);
	assert_int_equal(entries(f->dir), 4);
	assert_int_equal(sf_cache_lookup(f->dfd, &f->key, &e), 0);
	assert_int_equal(entries(f->dir), 0);
}

/* The list shows the live entry only: expired, future, damaged, format 1,
 * a symbolic link are passed over; nothing in the directory changes. */
static void
list_skips_and_changes_nothing(void **state)
{
	static const char *names[] = { "live", "expired", "future", "damaged",
	    "old", "link" };
	struct fixture *f = *state;
	char before[8192], after[8192], path[160];
	struct sf_key k[6];
	struct seen *s;
	int64_t now = sf_cache_now();
	uint8_t x;
	int i, fd;

	for (i = 0; i < 6; i++) {
		assert_int_equal(sf_key_from_bytes(&k[i], names[i],
		    strlen(names[i])), 0);
		f->res.key = (const uint8_t *)names[i];
		f->res.keylen = strlen(names[i]);
		f->res.ended_ns = now;
		if (i == 1)
			f->res.ended_ns = now - 2000000000LL;
		if (i == 2)
			f->res.ended_ns = now + 3600LL * 1000000000;
		if (i == 4) {
			f->res.key = NULL;
			f->res.keylen = 0;
			f->res.argv = NULL;
		}
		assert_int_equal(sf_cache_store(f->dfd, &k[i], &f->res,
		    i == 1 ? 1000 : 7200000), 1);
	}
	snprintf(path, sizeof(path), "%s/%s.cache", f->dir, k[3].name);
	fd = open(path, O_RDWR);
	assert_int_equal(pread(fd, &x, 1, FIXED + 2), 1);      /* the key */
	x ^= 0x20;
	assert_int_equal(pwrite(fd, &x, 1, FIXED + 2), 1);
	close(fd);
	make_format_1(f, &k[4]);
	snprintf(path, sizeof(path), "%s/%s.cache", f->dir, k[5].name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(f->dir, path), 0);
	snapshot(f, before, sizeof(before));
	s = list(f);
	snapshot(f, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->e[0].id, k[0].name);
	assert_memory_equal(s->e[0].key, "live", 4);
	free(s);
}

/* fn's -1 stops the walk: the list returns -1 with fn's errno. */
static void
list_stops_when_fn_fails(void **state)
{
	struct fixture *f = *state;
	struct sf_key other;
	struct seen *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(sf_key_from_bytes(&other, "other", 5), 0);
	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	assert_int_equal(sf_cache_store(f->dfd, &other, &f->res, 60000), 1);
	s->fail_at = 1;
	errno = 0;
	assert_int_equal(sf_cache_list(f->dfd, collect, s), -1);
	assert_int_equal(errno, ECANCELED);
	assert_int_equal(s->n, 1);
	free(s);
}

/* Forget removes the entry and its data, once; another key whose name
 * collides is left alone. */
static void
forget(void **state)
{
	struct fixture *f = *state;
	struct sf_cache_entry e;
	struct sf_key other = f->key;
	struct seen *s;

	assert_int_equal(sf_cache_store(f->dfd, &f->key, &f->res, 60000), 1);
	assert_int_equal(sf_cache_forget(f->dfd, &f->key), 1);
	assert_int_equal(entries(f->dir), 0);
	assert_int_equal(sf_cache_forget(f->dfd, &f->key), 0);
	other.digest[31] ^= 1;                  /* same name, other key */
	assert_int_equal(sf_cache_store(f->dfd, &other, &f->res, 60000), 1);
	assert_int_equal(sf_cache_forget(f->dfd, &f->key), 0);
	assert_int_equal(entries(f->dir), 4);
	s = list(f);                            /* the list knows no digest */
	assert_int_equal(s->n, 1);
	free(s);
	assert_int_equal(sf_cache_lookup(f->dfd, &other, &e), 1);
	sf_cache_entry_close(&e);
	assert_int_equal(sf_cache_forget(f->dfd, &other), 1);
	assert_int_equal(entries(f->dir), 0);
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
		cmocka_unit_test_setup_teardown(list_gives_key_and_command, setup, teardown),
		cmocka_unit_test_setup_teardown(list_derived_key, setup, teardown),
		cmocka_unit_test_setup_teardown(long_command_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(store_refuses_a_bad_key_length, setup, teardown),
		cmocka_unit_test_setup_teardown(format_1_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(list_skips_and_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(list_stops_when_fn_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(forget, setup, teardown),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
