/* key.c — SHA-256 (FIPS 180-4) and key derivation; see key.h. */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

struct sha256 {
	uint32_t h[8];
	uint64_t len;           /* bytes hashed so far */
	uint8_t buf[64];
	size_t fill;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void
block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void
sha_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->fill = 0;
}

static void
sha_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->len += n;
	while (n > 0) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;
		memcpy(s->buf + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill == 64) {
			block(s, s->buf);
			s->fill = 0;
		}
	}
}

static void
sha_final(struct sha256 *s, uint8_t out[SF_DIGEST_LEN])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	int i;

	sha_update(s, &pad, 1);
	while (s->fill != 56)
		sha_update(s, &zero, 1);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha_update(s, len, 8);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void
sf_sha256(const void *p, size_t n, uint8_t out[SF_DIGEST_LEN])
{
	struct sha256 s;

	sha_init(&s);
	sha_update(&s, p, n);
	sha_final(&s, out);
}

static void
name_from_digest(struct sf_key *k)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < SF_KEY_NAME_LEN / 2; i++) {
		k->name[2 * i] = hex[k->digest[i] >> 4];
		k->name[2 * i + 1] = hex[k->digest[i] & 15];
	}
	k->name[SF_KEY_NAME_LEN] = '\0';
}

int
sf_key_from_bytes(struct sf_key *k, const void *p, size_t n)
{
	struct sha256 s;

	if (n < 1 || n > SF_KEY_MAX) {
		errno = EINVAL;
		return -1;
	}
	sha_init(&s);
	sha_update(&s, "k", 1);
	sha_update(&s, p, n);
	sha_final(&s, k->digest);
	name_from_digest(k);
	return 0;
}

static void
update_u64(struct sha256 *s, uint64_t v)
{
	uint8_t be[8];
	int i;

	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(v >> (56 - 8 * i));
	sha_update(s, be, 8);
}

static void
update_byte(struct sha256 *s, uint8_t b)
{
	sha_update(s, &b, 1);
}

static void
update_field(struct sha256 *s, const char *str)
{
	size_t n = strlen(str);

	update_u64(s, n);
	sha_update(s, str, n);
}

int
sf_key_from_argv(struct sf_key *k, char *const argv[], const char *cwd)
{
	struct sha256 s;

	if (argv == NULL || argv[0] == NULL || cwd == NULL) {
		errno = EINVAL;
		return -1;
	}
	sha_init(&s);
	sha_update(&s, "a", 1);
	update_field(&s, cwd);
	for (; *argv != NULL; argv++)
		update_field(&s, *argv);
	sha_final(&s, k->digest);
	name_from_digest(k);
	return 0;
}

/* One input of sf_key_mix: kind 'e' (a variable) or 'f' (a file). */
struct item {
	char kind;
	const char *name;
};

static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * update_item: an item as key.h lays it out.  A file is stat'ed here, once
 * per name: were it stat'ed once per occurrence, a file changing between
 * two looks would make one name two items.
 */
static int
update_item(struct sha256 *s, const struct item *it, char *err, size_t errlen)
{
	const char *v;
	struct stat st;

	update_byte(s, (uint8_t)it->kind);
	update_field(s, it->name);
	if (it->kind == 'e') {
		if ((v = getenv(it->name)) == NULL) {
			update_byte(s, 0);
		} else {
			update_byte(s, 1);
			update_field(s, v);
		}
		return 0;
	}
	if (stat(it->name, &st) == -1) {
		/* Missing is an input's state like any other (a target
		 * not yet built); anything else leaves the key unknown. */
		if (errno != ENOENT && errno != ENOTDIR) {
			snprintf(err, errlen, "cannot use --key-file %s: %s",
			    it->name, strerror(errno));
			return -1;
		}
		update_byte(s, 0);
		return 0;
	}
	update_byte(s, 1);
	update_u64(s, (uint64_t)st.st_dev);
	update_u64(s, (uint64_t)st.st_ino);
	update_u64(s, (uint64_t)st.st_size);
	update_u64(s, (uint64_t)st.st_mtim.tv_sec);
	update_u64(s, (uint64_t)st.st_mtim.tv_nsec);
	return 0;
}

int
sf_key_mix(struct sf_key *k, char *const env[], size_t nenv,
    char *const files[], size_t nfiles, char *err, size_t errlen)
{
	struct item *it;
	struct sha256 s;
	size_t n, i;
	int saved;

	if (nenv == 0 && nfiles == 0)
		return 0;
	if ((nenv > 0 && env == NULL) || (nfiles > 0 && files == NULL)) {
		errno = EINVAL;
		goto fail;
	}
	if (nfiles > SIZE_MAX / sizeof(*it) ||
	    nenv > SIZE_MAX / sizeof(*it) - nfiles ||
	    (it = malloc((nenv + nfiles) * sizeof(*it))) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	for (n = 0; n < nenv + nfiles; n++) {
		it[n].kind = n < nenv ? 'e' : 'f';
		if ((it[n].name = n < nenv ? env[n] : files[n - nenv]) == NULL) {
			free(it);
			errno = EINVAL;
			goto fail;
		}
	}
	qsort(it, n, sizeof(*it), item_cmp);

	sha_init(&s);
	update_byte(&s, 'm');
	sha_update(&s, k->digest, SF_DIGEST_LEN);
	for (i = 0; i < n; i++) {
		if (i > 0 && item_cmp(&it[i - 1], &it[i]) == 0)
			continue;
		if (update_item(&s, &it[i], err, errlen) == -1) {
			saved = errno;
			free(it);
			errno = saved;
			return -1;
		}
	}
	free(it);
	sha_final(&s, k->digest);
	name_from_digest(k);
	return 0;
fail:
	snprintf(err, errlen, "cannot mix inputs into the key: %s", strerror(errno));
	return -1;
}

int
sf_key_is_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}
