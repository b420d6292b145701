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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "be.h"
#include "cache.h"

#define FORMAT       2
#define FIXED        136        /* the fixed header, check included */
#define CHECKED      128        /* its bytes before the check */
#define CHECK_LEN    (FIXED - CHECKED)
#define TAIL_MAX     (SF_PROTO_MAX_KEY + SF_PROTO_MAX_ARGV)
#define F_DERIVED    0x1        /* flags: keylen 0, the key was derived */
#define F_ARGV_CUT   0x2        /* flags: sf_proto_pack_argv cut the command */
#define NAME_MAX_    (SF_KEY_NAME_LEN + 1 + 16 + 4 + 1)
/* Readers that lose the race with a new entry read again, this often. */
#define LOOKUP_TRIES 3
#define SWEEP_EVERY  60         /* seconds between sweeps of a directory */
#define SWEEP_AGE    60         /* seconds an unnamed data file is spared */

/*
 * H.cache's bytes in memory with the check set apart: what the check
 * covers (the fixed header before it, then the key and the command) is one
 * run of bytes for sf_sha256, and the file is still read and written in
 * one call (iov).
 */
struct raw {
	uint8_t b[CHECKED + TAIL_MAX];
	uint8_t check[CHECK_LEN];
};

/* The entry as read from, or to be written to, H.cache; its key and
 * command are in struct raw's tail, key first. */
struct entry {
	uint8_t digest[SF_DIGEST_LEN];
	uint16_t flags;
	uint64_t gen;
	int32_t status;
	size_t keylen, argvlen;
	uint64_t size[3];
	int64_t started, ended, keep_until;
	uint64_t ino[3];
};

/* What load found under an entry's name. */
enum {
	LOAD_ERROR = -1,            /* it could not be read (errno) */
	LOAD_NONE,
	LOAD_DAMAGED,               /* no entry of ours */
	LOAD_DAMAGED_GEN,           /* no entry, but it names a generation */
	LOAD_ENTRY,                 /* an entry, of whichever key */
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

/* The file's order over r: the fixed header, its check, a tail of tail
 * bytes. */
static void
file_iov(struct raw *r, size_t tail, struct iovec iov[3])
{
	iov[0].iov_base = r->b;
	iov[0].iov_len = CHECKED;
	iov[1].iov_base = r->check;
	iov[1].iov_len = CHECK_LEN;
	iov[2].iov_base = r->b + CHECKED;
	iov[2].iov_len = tail;
}

/* The fixed header of e into r, and the check over it and the tail that
 * is there already. */
static void
encode(const struct entry *e, struct raw *r)
{
	uint8_t sum[SF_DIGEST_LEN], *b = r->b;
	int s;

	memset(b, 0, CHECKED);
	memcpy(b, "SFXC", 4);
	sf_be_put16(b + 4, FORMAT);
	sf_be_put16(b + 6, e->flags);
	memcpy(b + 8, e->digest, SF_DIGEST_LEN);
	sf_be_put64(b + 40, e->gen);
	sf_be_put32(b + 48, (uint32_t)e->status);
	sf_be_put16(b + 52, (uint16_t)e->keylen);
	sf_be_put16(b + 54, (uint16_t)e->argvlen);
	for (s = 0; s < 3; s++) {
		sf_be_put64(b + 56 + 8 * s, e->size[s]);
		sf_be_put64(b + 96 + 8 * s, e->ino[s]);
	}
	sf_be_put64(b + 80, (uint64_t)e->ended);
	sf_be_put64(b + 88, (uint64_t)e->keep_until);
	sf_be_put64(b + 120, (uint64_t)e->started);
	sf_sha256(b, CHECKED + e->keylen + e->argvlen, sum);
	memcpy(r->check, sum, CHECK_LEN);
}

/* 0, or -1 when the n bytes of a file in r are not an entry of this
 * format. */
static int
decode(const struct raw *r, size_t n, struct entry *e)
{
	const uint8_t *b = r->b;
	uint8_t sum[SF_DIGEST_LEN];
	int s;

	if (n < FIXED || memcmp(b, "SFXC", 4) != 0 ||
	    sf_be_get16(b + 4) != FORMAT)
		return -1;
	e->flags = sf_be_get16(b + 6);
	e->keylen = sf_be_get16(b + 52);
	e->argvlen = sf_be_get16(b + 54);
	/* The size first: the terminator looked at is then inside n. */
	if (n != FIXED + e->keylen + e->argvlen ||
	    e->keylen > SF_PROTO_MAX_KEY || e->argvlen > SF_PROTO_MAX_ARGV ||
	    (e->flags & ~(F_DERIVED | F_ARGV_CUT)) != 0 ||
	    ((e->flags & F_DERIVED) != 0) != (e->keylen == 0) ||
	    (e->argvlen > 0 && b[CHECKED + e->keylen + e->argvlen - 1] != '\0'))
		return -1;
	sf_sha256(b, CHECKED + e->keylen + e->argvlen, sum);
	if (memcmp(r->check, sum, CHECK_LEN) != 0)
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
	e->started = (int64_t)sf_be_get64(b + 120);
	if (e->status < 0 || e->status > 255 || e->size[2] % SF_ORDER_RECORD != 0 ||
	    e->keep_until < e->ended)
		return -1;
	return 0;
}

/* Within its time: ended, and not past keep_until.  An entry stamped in
 * the future is a clock gone wrong, not a result to trust. */
static int
fresh(const struct entry *e, int64_t now)
{
	return e->ended <= now && now < e->keep_until;
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

/*
 * Read the entry named after k (its digest is not looked at) into e and r,
 * the file's identity into *st; a LOAD_ value.  Changes nothing: what to
 * do with a damaged file is the caller's to say.
 */
static int
load(int dirfd, const struct sf_key *k, struct raw *r, struct entry *e,
    struct stat *st)
{
	struct iovec iov[3];
	char name[NAME_MAX_];
	ssize_t n = -1;
	int fd, saved;

	entry_name(name, k);
	memset(e, 0, sizeof(*e));
	memset(st, 0, sizeof(*st));
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return LOAD_NONE;
		/* A symbolic link or anything else that is no file is
		 * damaged; a file we could not open (EMFILE) is not. */
		saved = errno;
		if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st->st_mode))
			return LOAD_DAMAGED;
		errno = saved;
		return LOAD_ERROR;
	}
	if (fstat(fd, st) == -1)
		goto error;
	if (S_ISREG(st->st_mode)) {
		/* One read, as long as the longest entry: a longer file is
		 * then told by its size. */
		file_iov(r, TAIL_MAX, iov);
		do
			n = preadv(fd, iov, 3, 0);
		while (n == -1 && errno == EINTR);
		if (n == -1)
			goto error;
	}
	close(fd);
	if (n != -1 && private_file(st, (uint64_t)n) == 0 &&
	    decode(r, (size_t)n, e) == 0)
		return LOAD_ENTRY;
	memset(e, 0, sizeof(*e));
	if (n < 48)
		return LOAD_DAMAGED;
	e->gen = sf_be_get64(r->b + 40);
	return LOAD_DAMAGED_GEN;
error:
	saved = errno;
	close(fd);
	errno = saved;
	return LOAD_ERROR;
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

/*
 * Remove H.cache if it is still the file we read (was), then the data of
 * generation e->gen (none for NULL).  1 removed, 0 it is gone or another
 * file now (a new entry, left alone), -1 with errno.
 */
static int
remove_entry(int dirfd, const struct sf_key *k, const struct stat *was,
    const struct entry *e)
{
	char name[NAME_MAX_];
	struct stat st;

	entry_name(name, k);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (st.st_dev != was->st_dev || st.st_ino != was->st_ino)
		return 0;
	if (unlinkat(dirfd, name, 0) == -1)
		return errno == ENOENT ? 0 : -1;
	if (e != NULL)
		remove_data(dirfd, k, e->gen);
	return 1;
}

/*
 * Read H.cache into *e, its identity into *st.  1 read, 0 none or damaged
 * (removed; *st zeroed when there was nothing), -1 unreadable (errno),
 * -2 a collision (another key's entry: left alone).
 */
static int
read_entry(int dirfd, const struct sf_key *k, struct entry *e, struct stat *st)
{
	struct raw r;

	switch (load(dirfd, k, &r, e, st)) {
	case LOAD_ERROR:
		return -1;
	case LOAD_NONE:
		return 0;
	case LOAD_DAMAGED:
		remove_entry(dirfd, k, st, NULL);
		return 0;
	case LOAD_DAMAGED_GEN:
		/* Its data go too, as far as it still names them (what it
		 * no longer names is left to the sweep). */
		remove_entry(dirfd, k, st, e);
		return 0;
	}
	return memcmp(e->digest, k->digest, SF_DIGEST_LEN) == 0 ? 1 : -2;
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
	int i, r;

	for (i = 0; i < LOOKUP_TRIES; i++) {
		if ((r = read_entry(dirfd, k, &e, &st)) <= 0)
			return 0;
		if (!fresh(&e, sf_cache_now())) {
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
	struct iovec iov[3];
	struct raw raw;
	struct entry e, old;
	struct stat st, oldst;
	int s, fd, saved, had, cut;
	ssize_t n;

	if (r->key != NULL ? r->keylen < 1 || r->keylen > SF_PROTO_MAX_KEY :
	    r->keylen != 0) {
		errno = EINVAL;
		return -1;
	}
	had = read_entry(dirfd, k, &old, &oldst);
	if (r->status != 0 && had == 1 && old.status == 0 &&
	    fresh(&old, sf_cache_now()))
		return 0;
	memset(&e, 0, sizeof(e));
	memcpy(e.digest, k->digest, SF_DIGEST_LEN);
	if (getrandom(&e.gen, sizeof(e.gen), 0) != (ssize_t)sizeof(e.gen))
		return -1;
	e.status = r->status;
	/* The tail, for --list: the key as given, then the command. */
	e.keylen = r->keylen;
	if (e.keylen > 0)
		memcpy(raw.b + CHECKED, r->key, e.keylen);
	else
		e.flags |= F_DERIVED;
	e.argvlen = sf_proto_pack_argv(r->argv, raw.b + CHECKED + e.keylen,
	    SF_PROTO_MAX_ARGV, &cut);
	if (cut)
		e.flags |= F_ARGV_CUT;
	e.started = r->started_ns;
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
	encode(&e, &raw);
	data_name(tmp, k, e.gen, -1);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	file_iov(&raw, e.keylen + e.argvlen, iov);
	do
		n = writev(fd, iov, 3);
	while (n == -1 && errno == EINTR);
	if (n >= 0 && n != (ssize_t)(FIXED + e.keylen + e.argvlen)) {
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


/* An entry's name "H.cache": k->name set from it (the digest is unknown:
 * read_entry then reports a collision, which the sweep treats as valid,
 * and the list does not look at it). */
static int
entry_key(const char *name, struct sf_key *k)
{
	if (strlen(name) != SF_KEY_NAME_LEN + 6 ||
	    !sf_key_is_hex(name, SF_KEY_NAME_LEN) ||
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

	if (n < SF_KEY_NAME_LEN + 1 + 16 + 2 || !sf_key_is_hex(name, SF_KEY_NAME_LEN) ||
	    name[SF_KEY_NAME_LEN] != '.' || !sf_key_is_hex(g, 16) || g[16] != '.' ||
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
	if (!fresh(&e, now))
		remove_entry(dirfd, k, &st, &e);
}

/* Remove a data file that its key's entry does not name, if old enough. */
static void
sweep_data(int dirfd, const char *name, const struct sf_key *k, uint64_t gen,
    int64_t now)
{
	struct entry e;
	struct stat st, est;
	int r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ctime > (time_t)(now / 1000000000) - SWEEP_AGE)
		return;         /* just linked: an entry may be on its way */
	/* An entry we cannot read now may still name it. */
	if ((r = read_entry(dirfd, k, &e, &est)) == -1 ||
	    (r == -2 && e.gen == gen))
		return;
	unlinkat(dirfd, name, 0);
}

/*
 * A stream over dirfd's names from the first.  Opened anew rather than
 * dup'd: a dup would share dirfd's offset, and a walk in another thread
 * (a sweep, a list) would take names from this one.
 */
static DIR *
open_dir(int dirfd)
{
	DIR *d;
	int fd, saved;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
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
	int fd;

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
	if ((d = open_dir(dirfd)) == NULL) {
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

/* ---- listing and forgetting -------------------------------------------- */

/* What --list shows of entry e, read into r, of the key named k->name. */
static void
info_of(const struct sf_key *k, const struct raw *r, const struct entry *e,
    struct sf_cache_info *out)
{
	int s;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, k->name, sizeof(out->id));
	out->status = e->status;
	for (s = 0; s < 3; s++)
		out->size[s] = e->size[s];
	out->started_ns = e->started;
	out->ended_ns = e->ended;
	out->keep_until_ns = e->keep_until;
	out->derived = (e->flags & F_DERIVED) != 0;
	out->argv_cut = (e->flags & F_ARGV_CUT) != 0;
	out->keylen = e->keylen;
	out->argvlen = e->argvlen;
	memcpy(out->key, r->b + CHECKED, e->keylen);
	memcpy(out->argv, r->b + CHECKED + e->keylen, e->argvlen);
}

int
sf_cache_list(int dirfd, sf_cache_list_fn *fn, void *arg)
{
	struct sf_cache_info info;
	struct dirent *de;
	struct entry e;
	struct stat st;
	struct sf_key k;
	struct raw r;
	int64_t now = sf_cache_now();
	int rc = 0, saved;
	DIR *d;

	if ((d = open_dir(dirfd)) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = -1;
			break;
		}
		/* The digest inside is not judged: no key is known here.
		 * Whatever a lookup would remove is only passed over. */
		if (!entry_key(de->d_name, &k) ||
		    load(dirfd, &k, &r, &e, &st) != LOAD_ENTRY ||
		    !fresh(&e, now))
			continue;
		info_of(&k, &r, &e, &info);
		if (fn(arg, &info) == -1) {
			rc = -1;
			break;
		}
	}
	saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

int
sf_cache_forget(int dirfd, const struct sf_key *k)
{
	struct entry e;
	struct stat st;
	int i, r;

	/* An entry renamed in between (a store) is read and forgotten in
	 * its turn. */
	for (i = 0; i < LOOKUP_TRIES; i++) {
		if ((r = read_entry(dirfd, k, &e, &st)) == -1)
			return -1;
		if (r != 1)
			return 0;
		if ((r = remove_entry(dirfd, k, &st, &e)) != 0)
			return r;
	}
	return 0;
}
