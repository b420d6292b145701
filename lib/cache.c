/* cache.c — stored results of flights; see cache.h for the files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "be.h"
#include "cache.h"

#define ENTRY_SIZE   128
#define CHECKED      120        /* bytes covered by the check */
#define FORMAT       1
#define NAME_MAX_    (SF_KEY_NAME_LEN + 1 + 16 + 4 + 1)
/* Readers that lose the race with a new entry read again, this often. */
#define LOOKUP_TRIES 3
#define SWEEP_EVERY  60         /* seconds between sweeps of a directory */
#define SWEEP_AGE    60         /* seconds an unnamed data file is spared */


/* The entry as read from, or to be written to, H.cache. */
struct entry {
	uint8_t digest[SF_DIGEST_LEN];
	uint64_t gen;
	int32_t status;
	uint64_t size[3];
	int64_t ended, keep_until;
	uint64_t ino[3];
};

int64_t
sf_cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
entry_name(char *buf, const struct sf_key *k)
{
	snprintf(buf, NAME_MAX_, "%s.cache", k->name);
}

/* Data file of stream s (0..2) of generation gen; "new" for s == -1. */
static void
data_name(char *buf, const struct sf_key *k, uint64_t gen, int s)
{
	if (s < 0)
		snprintf(buf, NAME_MAX_, "%s.%016llx.new", k->name,
		    (unsigned long long)gen);
	else
		snprintf(buf, NAME_MAX_, "%s.%016llx.%d", k->name,
		    (unsigned long long)gen, s + 1);
}

static void
encode(const struct entry *e, uint8_t b[ENTRY_SIZE])
{
	uint8_t sum[SF_DIGEST_LEN];
	int s;

	memset(b, 0, ENTRY_SIZE);
	memcpy(b, "SFXC", 4);
	b[5] = FORMAT;
	memcpy(b + 8, e->digest, SF_DIGEST_LEN);
	sf_be_put64(b + 40, e->gen);
	sf_be_put32(b + 48, (uint32_t)e->status);
	for (s = 0; s < 3; s++) {
		sf_be_put64(b + 56 + 8 * s, e->size[s]);
		sf_be_put64(b + 96 + 8 * s, e->ino[s]);
	}
	sf_be_put64(b + 80, (uint64_t)e->ended);
	sf_be_put64(b + 88, (uint64_t)e->keep_until);
	sf_sha256(b, CHECKED, sum);
	memcpy(b + CHECKED, sum, ENTRY_SIZE - CHECKED);
}

/* 0, or -1 when b is not an entry of this format. */
static int
decode(const uint8_t b[ENTRY_SIZE], struct entry *e)
{
	uint8_t sum[SF_DIGEST_LEN];
	int s;

	sf_sha256(b, CHECKED, sum);
	if (memcmp(b, "SFXC", 4) != 0 || b[4] != 0 || b[5] != FORMAT ||
	    b[6] != 0 || b[7] != 0 || sf_be_get32(b + 52) != 0 ||
	    memcmp(b + CHECKED, sum, ENTRY_SIZE - CHECKED) != 0)
		return -1;
	memcpy(e->digest, b + 8, SF_DIGEST_LEN);
	e->gen = sf_be_get64(b + 40);
	e->status = (int32_t)sf_be_get32(b + 48);
	for (s = 0; s < 3; s++) {
		e->size[s] = sf_be_get64(b + 56 + 8 * s);
		e->ino[s] = sf_be_get64(b + 96 + 8 * s);
		if ((e->size[s] == 0) != (e->ino[s] == 0))
			return -1;
	}
	e->ended = (int64_t)sf_be_get64(b + 80);
	e->keep_until = (int64_t)sf_be_get64(b + 88);
	if (e->status < 0 || e->status > 255 || e->size[2] % SF_ORDER_RECORD != 0 ||
	    e->keep_until < e->ended)
		return -1;
	return 0;
}

/* A file of ours that nobody else may read or write (as rundir.h asks of
 * the directory), of the given size. */
static int
private_file(const struct stat *st, uint64_t size)
{
	return S_ISREG(st->st_mode) && st->st_uid == geteuid() &&
	    (st->st_mode & 077) == 0 && (uint64_t)st->st_size == size ? 0 : -1;
}

static int
open_private(int dirfd, const char *name, uint64_t size, struct stat *st)
{
	int fd;

	/* O_NONBLOCK: a FIFO planted under the name must not hold us. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, st) == -1 || private_file(st, size) == -1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

static void
remove_data(int dirfd, const struct sf_key *k, uint64_t gen)
{
	char name[NAME_MAX_];
	int s;

	for (s = -1; s < 3; s++) {
		data_name(name, k, gen, s);
		unlinkat(dirfd, name, 0);
	}
}

/* Remove H.cache if it is still the file we read (ino), and its data. */
static void
remove_entry(int dirfd, const struct sf_key *k, const struct stat *was,
    const struct entry *e)
{
	char name[NAME_MAX_];
	struct stat st;

	entry_name(name, k);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == was->st_dev && st.st_ino == was->st_ino) {
		unlinkat(dirfd, name, 0);
		if (e != NULL)
			remove_data(dirfd, k, e->gen);
	}
}

/*
 * Read H.cache into *e, its identity into *st.  1 read, 0 none or damaged
 * (removed; *st zeroed when there was nothing), -2 a collision (another
 * key's entry: left alone).
 */
static int
read_entry(int dirfd, const struct sf_key *k, struct entry *e, struct stat *st)
{
	uint8_t b[ENTRY_SIZE];
	char name[NAME_MAX_];
	ssize_t n;
	int fd;

	entry_name(name, k);
	memset(st, 0, sizeof(*st));
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		/* A symbolic link or anything else that is no entry goes. */
		if (errno != ENOENT && fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
			remove_entry(dirfd, k, st, NULL);
		return 0;
	}
	if (fstat(fd, st) == -1) {
		close(fd);
		return 0;
	}
	do
		n = pread(fd, b, sizeof(b), 0);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (private_file(st, ENTRY_SIZE) == -1 || n != (ssize_t)sizeof(b) ||
	    decode(b, e) == -1) {
		/* Damaged: its data go too, as far as it still names them
		 * (what it no longer names is left to the sweep). */
		memset(e, 0, sizeof(*e));
		if (n >= 48)
			e->gen = sf_be_get64(b + 40);
		remove_entry(dirfd, k, st, n >= 48 ? e : NULL);
		return 0;
	}
	if (memcmp(e->digest, k->digest, SF_DIGEST_LEN) != 0)
		return -2;
	return 1;
}

void
sf_cache_entry_close(struct sf_cache_entry *e)
{
	int s;

	for (s = 0; s < 3; s++) {
		if (e->fd[s] != -1)
			close(e->fd[s]);
		e->fd[s] = -1;
	}
}

/* Open e's data files into out; 1, 0 damaged, -1 replaced meanwhile. */
static int
open_data(int dirfd, const struct sf_key *k, const struct entry *e,
    const struct stat *est, struct sf_cache_entry *out)
{
	char name[NAME_MAX_];
	struct stat st, now;
	int s;

	for (s = 0; s < 3; s++) {
		out->fd[s] = -1;
		out->size[s] = e->size[s];
	}
	for (s = 0; s < 3; s++) {
		if (e->size[s] == 0)
			continue;
		data_name(name, k, e->gen, s);
		out->fd[s] = open_private(dirfd, name, e->size[s], &st);
		if (out->fd[s] != -1 && st.st_ino == e->ino[s])
			continue;
		sf_cache_entry_close(out);
		/* A new entry replaced this one and removed its data: read
		 * the new one.  Otherwise this one is damaged. */
		entry_name(name, k);
		if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (now.st_dev != est->st_dev || now.st_ino != est->st_ino))
			return -1;
		return 0;
	}
	out->status = e->status;
	out->ended_ns = e->ended;
	out->keep_until_ns = e->keep_until;
	return 1;
}

int
sf_cache_lookup(int dirfd, const struct sf_key *k, struct sf_cache_entry *out)
{
	struct entry e;
	struct stat st;
	int64_t now;
	int i, r;

	for (i = 0; i < LOOKUP_TRIES; i++) {
		if ((r = read_entry(dirfd, k, &e, &st)) <= 0)
			return 0;
		now = sf_cache_now();
		if (e.ended > now || e.keep_until <= now) {
			remove_entry(dirfd, k, &st, &e);
			return 0;
		}
		if ((r = open_data(dirfd, k, &e, &st, out)) == 1)
			return 1;
		if (r == 0) {
			remove_entry(dirfd, k, &st, &e);
			return 0;
		}
	}
	return 0;
}

/* ---- storing ------------------------------------------------------------------- */

/* Copy size bytes of from into the new file name in dirfd. */
static int
copy_in(int dirfd, const char *name, int from, uint64_t size, struct stat *st)
{
	char buf[65536];
	uint64_t off = 0;
	ssize_t n, w;
	int fd, saved;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	while (off < size) {
		n = pread(from, buf, size - off < sizeof(buf) ? (size_t)(size - off) :
		    sizeof(buf), (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		for (w = 0; w < n; ) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));
			if (k == -1 && errno == EINTR)
				continue;
			if (k == -1)
				goto fail;
			w += k;
		}
		off += (uint64_t)n;
	}
	if (fstat(fd, st) == -1)
		goto fail;
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(dirfd, name, 0);
	errno = saved;
	return -1;
}

/*
 * Give the spool a name in dirfd: the unnamed file itself where it can
 * (one copy of the bytes, however large), else a copy.  st gets its
 * identity.
 */
static int
link_in(int dirfd, const char *name, int spool, uint64_t size, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", spool);
	if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) == 0) {
		if (fstat(spool, st) == 0 && (uint64_t)st->st_size == size &&
		    (st->st_mode & 077) == 0)
			return 0;
		unlinkat(dirfd, name, 0);
	}
	if (errno == ENOSPC || errno == EDQUOT)
		return -1;
	return copy_in(dirfd, name, spool, size, st);
}

int
sf_cache_store(int dirfd, const struct sf_key *k,
    const struct sf_cache_result *r, uint64_t keep_ms)
{
	char name[NAME_MAX_], tmp[NAME_MAX_];
	uint8_t b[ENTRY_SIZE];
	struct entry e, old;
	struct stat st, oldst;
	int s, fd, saved, had;
	ssize_t n;

	had = read_entry(dirfd, k, &old, &oldst);
	if (r->status != 0 && had == 1 && old.status == 0 &&
	    old.keep_until > sf_cache_now() && old.ended <= sf_cache_now())
		return 0;
	memset(&e, 0, sizeof(e));
	memcpy(e.digest, k->digest, SF_DIGEST_LEN);
	if (getrandom(&e.gen, sizeof(e.gen), 0) != (ssize_t)sizeof(e.gen))
		return -1;
	e.status = r->status;
	e.ended = r->ended_ns;
	if (keep_ms > (uint64_t)(INT64_MAX - e.ended) / 1000000)
		keep_ms = (uint64_t)(INT64_MAX - e.ended) / 1000000;
	e.keep_until = e.ended + (int64_t)keep_ms * 1000000;
	for (s = 0; s < 3; s++) {
		e.size[s] = r->spool[s] != -1 ? r->size[s] : 0;
		if (e.size[s] == 0)
			continue;
		data_name(name, k, e.gen, s);
		if (link_in(dirfd, name, r->spool[s], e.size[s], &st) == -1)
			goto fail;
		e.ino[s] = (uint64_t)st.st_ino;
	}
	encode(&e, b);
	data_name(tmp, k, e.gen, -1);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	do
		n = write(fd, b, sizeof(b));
	while (n == -1 && errno == EINTR);
	if (n >= 0 && n != (ssize_t)sizeof(b)) {
		n = -1;
		errno = ENOSPC;
	}
	saved = errno;
	if (close(fd) == -1 && n != -1)
		n = -1;
	else
		errno = saved;
	if (n == -1)
		goto fail;
	entry_name(name, k);
	if (renameat(dirfd, tmp, dirfd, name) == -1)
		goto fail;
	/* The old entry's data go; its readers have them open already, or
	 * find H.cache changed and read the new entry (sf_cache_lookup). */
	if (had == 1 && old.gen != e.gen)
		remove_data(dirfd, k, old.gen);
	return 1;
fail:
	saved = errno;
	remove_data(dirfd, k, e.gen);
	errno = saved;
	return -1;
}

/* ---- the sweep ------------------------------------------------------------------ */

static int
hex_run(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* An entry's name "H.cache": k->name set from it (the digest is unknown:
 * read_entry then reports a collision, which the sweep treats as valid). */
static int
entry_key(const char *name, struct sf_key *k)
{
	if (strlen(name) != SF_KEY_NAME_LEN + 6 || !hex_run(name, SF_KEY_NAME_LEN) ||
	    strcmp(name + SF_KEY_NAME_LEN, ".cache") != 0)
		return 0;
	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, SF_KEY_NAME_LEN);
	return 1;
}

/* A data file's name "H.G.s": k->name and *gen set from it. */
static int
data_key(const char *name, struct sf_key *k, uint64_t *gen)
{
	size_t n = strlen(name);
	const char *g = name + SF_KEY_NAME_LEN + 1;

	if (n < SF_KEY_NAME_LEN + 1 + 16 + 2 || !hex_run(name, SF_KEY_NAME_LEN) ||
	    name[SF_KEY_NAME_LEN] != '.' || !hex_run(g, 16) || g[16] != '.' ||
	    (strcmp(g + 17, "1") != 0 && strcmp(g + 17, "2") != 0 &&
	    strcmp(g + 17, "3") != 0 && strcmp(g + 17, "new") != 0))
		return 0;
	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, SF_KEY_NAME_LEN);
	*gen = strtoull(g, NULL, 16);
	return 1;
}

/* Judge an entry as a lookup would, without knowing its key. */
static void
sweep_entry(int dirfd, const struct sf_key *k, int64_t now)
{
	struct entry e;
	struct stat st;

	if (read_entry(dirfd, k, &e, &st) != -2)
		return;         /* none, or damaged and removed already */
	if (e.ended > now || e.keep_until <= now)
		remove_entry(dirfd, k, &st, &e);
}

/* Remove a data file that its key's entry does not name, if old enough. */
static void
sweep_data(int dirfd, const char *name, const struct sf_key *k, uint64_t gen,
    int64_t now)
{
	struct entry e;
	struct stat st, est;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ctime > (time_t)(now / 1000000000) - SWEEP_AGE)
		return;         /* just linked: an entry may be on its way */
	if (read_entry(dirfd, k, &e, &est) == -2 && e.gen == gen)
		return;
	unlinkat(dirfd, name, 0);
}

void
sf_cache_sweep(int dirfd)
{
	sf_cache_sweep_at(dirfd, sf_cache_now());
}

void
sf_cache_sweep_at(int dirfd, int64_t at)
{
	struct timespec now[2];
	struct sf_key k;
	struct stat st;
	struct dirent *de;
	uint64_t gen;
	DIR *d;
	int fd, dfd;

	now[0].tv_sec = (time_t)(at / 1000000000);
	now[0].tv_nsec = (long)(at % 1000000000);
	if (fstatat(dirfd, ".sweep", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime <= now[0].tv_sec && st.st_mtime > now[0].tv_sec - SWEEP_EVERY)
		return;
	fd = openat(dirfd, ".sweep", O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return;
	}
	now[1] = now[0];
	futimens(fd, now);
	if ((dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (entry_key(de->d_name, &k))
			sweep_entry(dirfd, &k, at);
		else if (data_key(de->d_name, &k, &gen))
			sweep_data(dirfd, de->d_name, &k, gen, at);
	}
	closedir(d);
	close(fd);
}
