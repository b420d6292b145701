/*
 * fuzz_cache.c — reading a cache entry (cache.h) that anyone could have
 * damaged: the bytes are H.cache, in a fresh directory beside sound data
 * files for the generation the bytes name (so the checks past the entry
 * itself are reached too: sizes as the bytes say, up to 4 KiB).
 *
 * sf_cache_list comes first: it must change nothing, and what it reports
 * must be what the bytes say, well-formed.  sf_cache_lookup must find the
 * entry or not, never crash; a found entry must describe files that really
 * hold its sizes, read-only, and must have been listed; an entry it refused
 * must be gone, unless it is another key's.  sf_cache_forget then removes
 * a found entry and leaves another key's alone.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "key.h"

#define FIXED 136               /* H.cache's fixed header */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/sf-fuzz-cache-XXXXXX";
static int dfd = -1;
static struct sf_key key;

static void
remove_dir(void)
{
	rmdir(dir);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put(const char *name, const void *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* What sf_cache_list reported of the input's bytes. */
struct listed {
	const uint8_t *data;
	size_t size;
	int n;
	int fail;                   /* fn says -1 (ECANCELED) */
};

static int
check_info(void *arg, const struct sf_cache_info *e)
{
	struct listed *l = arg;
	const uint8_t *tail = l->data + FIXED;
	size_t s;

	if (strcmp(e->id, key.name) != 0 || e->keylen > SF_PROTO_MAX_KEY ||
	    e->argvlen > SF_PROTO_MAX_ARGV || e->derived != (e->keylen == 0) ||
	    l->size != FIXED + e->keylen + e->argvlen ||
	    (e->argvlen > 0 && e->argv[e->argvlen - 1] != '\0') ||
	    memcmp(e->key, tail, e->keylen) != 0 ||
	    memcmp(e->argv, tail + e->keylen, e->argvlen) != 0 ||
	    e->status < 0 || e->status > 255 || e->size[2] % 8 != 0 ||
	    e->keep_until_ns < e->ended_ns)
		abort();
	for (s = 0; s < 3; s++)
		if (e->size[s] != get64(l->data + 56 + 8 * s))
			abort();
	l->n++;
	if (l->fail) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

/* How many names the directory holds, "." and ".." included. */
static int
names(void)
{
	DIR *d = opendir(dir);
	int n;

	if (d == NULL)
		abort();
	for (n = 0; readdir(d) != NULL; n++)
		;
	closedir(d);
	return n;
}

/* Remove what this input made (the lookup may have removed some). */
static void
clean(uint64_t gen)
{
	char name[96];
	int s;

	snprintf(name, sizeof(name), "%s.cache", key.name);
	unlinkat(dfd, name, 0);
	for (s = 1; s <= 3; s++) {
		snprintf(name, sizeof(name), "%s.%016llx.%d", key.name,
		    (unsigned long long)gen, s);
		unlinkat(dfd, name, 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char body[4096] = "some output";
	struct sf_cache_entry e;
	struct listed l = { data, size, 0, 0 };
	struct stat st, was;
	char name[96];
	uint64_t gen = 0, len;
	int64_t t0;
	int s, r, n, listed;

	if (dfd == -1) {
		if (mkdtemp(dir) == NULL)
			abort();
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sf_key_from_bytes(&key, "fuzz", 4);
		atexit(remove_dir);
	}
	snprintf(name, sizeof(name), "%s.cache", key.name);
	put(name, data, size);
	/* data files for the generation named at offset 40, if there is one */
	if (size >= 48)
		gen = get64(data + 40);
	for (s = 1; s <= 3 && size >= 80; s++) {
		len = get64(data + 56 + 8 * (s - 1));
		snprintf(name, sizeof(name), "%s.%016llx.%d", key.name,
		    (unsigned long long)gen, s);
		put(name, body, len <= sizeof(body) ? (size_t)len : 0);
	}
	/* the list: nothing changed, an fn that fails stops it */
	snprintf(name, sizeof(name), "%s.cache", key.name);
	if (fstatat(dfd, name, &was, AT_SYMLINK_NOFOLLOW) == -1)
		abort();
	n = names();
	t0 = sf_cache_now();
	if (sf_cache_list(dfd, check_info, &l) != 0 || l.n > 1)
		abort();
	listed = l.n;
	l.n = 0;
	l.fail = 1;
	errno = 0;
	r = sf_cache_list(dfd, check_info, &l);
	if (l.n > 1 || r != -l.n || (r == -1 && errno != ECANCELED))
		abort();
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ino != was.st_ino || st.st_size != was.st_size ||
	    names() != n)
		abort();
	r = sf_cache_lookup(dfd, &key, &e);
	if (r == 1) {
		/* found now, ended before the list: listed */
		if (e.ended_ns <= t0 && listed != 1)
			abort();
		for (s = 0; s < 3; s++) {
			if (e.fd[s] == -1)
				continue;
			if (fstat(e.fd[s], &st) == -1 || (uint64_t)st.st_size != e.size[s] ||
			    (fcntl(e.fd[s], F_GETFL) & O_ACCMODE) != O_RDONLY)
				abort();
		}
		if (e.status < 0 || e.status > 255 || e.size[2] % 8 != 0)
			abort();
		sf_cache_entry_close(&e);
		/* forgotten: the entry and the data of its generation */
		if (sf_cache_forget(dfd, &key) != 1 || names() != 2)
			abort();
	} else {
		/* refused, yet left in place: only another key's entry,
		 * which forgetting this key leaves too */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (size < 40 ||
		    memcmp(data + 8, key.digest, SF_DIGEST_LEN) == 0 ||
		    sf_cache_forget(dfd, &key) != 0 ||
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0))
			abort();
	}
	clean(gen);
	return 0;
}
