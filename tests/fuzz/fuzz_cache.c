/*
 * fuzz_cache.c — reading a cache entry (cache.h) that anyone could have
 * damaged: the bytes are H.cache, in a fresh directory beside sound data
 * files for the generation the bytes name (so the checks past the entry
 * itself are reached too: sizes as the bytes say, up to 4 KiB).  sf_cache_lookup must find it or not, never
 * crash; a found entry must describe files that really hold its sizes,
 * read-only; an entry it refused must be gone.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/sf-fuzz-cache-XXXXXX";
static int dfd = -1;
static struct sf_key key;

static void
remove_dir(void)
{
	rmdir(dir);
}

static void
put(const char *name, const void *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
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
	struct stat st;
	char name[96];
	uint64_t gen = 0, len;
	int s, i, r;

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
		for (i = 0; i < 8; i++)
			gen = gen << 8 | data[40 + i];
	for (s = 1; s <= 3 && size >= 80; s++) {
		for (i = 0, len = 0; i < 8; i++)
			len = len << 8 | data[56 + 8 * (s - 1) + i];
		snprintf(name, sizeof(name), "%s.%016llx.%d", key.name,
		    (unsigned long long)gen, s);
		put(name, body, len <= sizeof(body) ? (size_t)len : 0);
	}
	r = sf_cache_lookup(dfd, &key, &e);
	if (r == 1) {
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
	} else {
		snprintf(name, sizeof(name), "%s.cache", key.name);
		/* refused, yet left in place: only another key's entry */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (size < 40 || memcmp(data + 8, key.digest, SF_DIGEST_LEN) == 0))
			abort();
	}
	clean(gen);
	return 0;
}
