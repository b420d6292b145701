/*
 * cache.h — stored results of flights (--ttl).
 *
 * An entry is one key's last stored result in a cache directory (by default
 * the runtime directory; yours, 0700, checked as rundir.h checks it):
 *
 *   H.cache        the entry itself, below
 *   H.G.1 .2 .3    stdout, stderr and the order index (proto.h), the
 *                  runner's spools linked into the directory (no copy); a
 *                  stream that stayed empty has no file
 *
 * H is the key's file name (key.h) and G the entry's generation, 16 random
 * hexadecimal digits, so an entry's data files are never those of the entry
 * it replaces.  The entry is written under a fresh name and renamed over
 * H.cache, so a reader sees the old entry or the new one, never a mix; the
 * old entry's data files are removed after the rename, and a reader that
 * loses that race finds H.cache changed and reads it again.
 *
 * H.cache, all numbers big endian: a fixed header of 136 bytes, then the
 * key and the command that sfexec --list shows (control.h):
 *
 *   0  "SFXC"          magic
 *   4  u16 2           format version (an entry of format 1 is damaged)
 *   6  u16 flags       0x1 the key was derived from the command (keylen
 *                      0), 0x2 the command was cut (sf_proto_pack_argv);
 *                      no other bit
 *   8  digest[32]      the key's whole SHA-256 (a colliding H is a miss)
 *  40  u64 generation  G
 *  48  i32 status      the command's exit status (only exits are stored)
 *  52  u16 keylen      0 for a derived key, else 1 .. SF_PROTO_MAX_KEY
 *  54  u16 argvlen     0 .. SF_PROTO_MAX_ARGV
 *  56  u64 size[3]     bytes of stdout, stderr, order index
 *  80  i64 ended       when the flight ended: CLOCK_REALTIME, nanoseconds
 *  88  i64 keep_until  when the entry may be removed (ended + the longest
 *                      TTL + stale window any invocation asked for)
 *  96  u64 inode[3]    the data files' inode numbers (0: no file)
 * 120  i64 started     when the flight started: CLOCK_REALTIME, nanoseconds
 * 128  u8 check[8]     the first 8 bytes of the SHA-256 of the whole file
 *                      but these 8 bytes: bytes 0..127, then 136 .. the end
 * 136  key[keylen]     the key's bytes as given (--key)
 *      argv[argvlen]   the command's arguments, each ended by a NUL, back
 *                      to back (sf_proto_pack_argv): the last byte is a NUL
 *
 * The file is exactly 136 + keylen + argvlen bytes.
 *
 *   .sweep         when the last sweep began (sf_cache_sweep)
 *
 * Whatever does not match exactly (size, magic, format, flags, lengths,
 * the last NUL, check, owner, mode, a data file's type, owner, size or
 * inode) is damaged: a miss, and removed.  So is an entry of format 1
 * (128 bytes, without key and command): after an upgrade, the first
 * lookup of each key runs the command again.
 */
#ifndef SF_CACHE_H
#define SF_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "key.h"

/* What one invocation asks of its flight's result (proto.h, CACHE). */
struct sf_cache_req {
	uint64_t keep_ms;           /* keep it this long after the end */
	bool failures;              /* store a non-zero exit status too */
};

/* A flight's result, to store: the runner's spools and how it ended. */
struct sf_cache_result {
	int spool[3];               /* stdout, stderr, index; -1 when empty */
	uint64_t size[3];
	int status;                 /* exit status */
	int64_t started_ns;         /* sf_cache_now() at the flight's start */
	int64_t ended_ns;           /* sf_cache_now() at the end */
	/* For --list (control.h), kept in the entry: */
	const uint8_t *key;         /* the key's bytes; NULL when derived */
	size_t keylen;              /* 1 .. SF_PROTO_MAX_KEY, or 0 */
	char *const *argv;          /* the command (sf_proto_pack_argv) */
};

/* An entry as sf_cache_list finds it (its data are not opened). */
struct sf_cache_info {
	char id[SF_KEY_NAME_LEN + 1];   /* H */
	int status;
	uint64_t size[3];
	int64_t started_ns, ended_ns, keep_until_ns;
	bool derived;               /* keylen 0: the key was derived */
	bool argv_cut;              /* sf_proto_pack_argv cut the arguments */
	size_t keylen, argvlen;
	uint8_t key[SF_PROTO_MAX_KEY];
	uint8_t argv[SF_PROTO_MAX_ARGV];
};

/* A stored result found by sf_cache_lookup. */
struct sf_cache_entry {
	int fd[3];                  /* read-only data; -1 for an empty stream */
	uint64_t size[3];
	int status;
	int64_t ended_ns, keep_until_ns;
};

/* sf_cache_now — the wall clock, in nanoseconds since the epoch. */
int64_t sf_cache_now(void);

/*
 * sf_cache_store — make r the key's entry in dirfd, to be kept keep_ms
 * after it ended.  A non-zero status never replaces an entry of status 0
 * that is still to be kept (a failing refresh keeps the success).  Links
 * r's spools into dirfd (through /proc/self/fd); where that cannot be done
 * (no /proc, another file system) it copies them.  Returns 1 stored, 0 not
 * stored because a success is kept, -1 with errno (ENOSPC, EDQUOT, ...),
 * and then nothing new is left in dirfd.
 */
int sf_cache_store(int dirfd, const struct sf_key *k,
    const struct sf_cache_result *r, uint64_t keep_ms);

/*
 * sf_cache_lookup — the key's entry in dirfd, its data open read-only.
 * Returns 1 (e filled: close it with sf_cache_entry_close), or 0 when there
 * is none, or it is damaged (then it is removed), or past its keep_until
 * or stamped in the future (then it is removed too).  Never fails
 * otherwise: a cache that cannot be read is a miss.
 */
int sf_cache_lookup(int dirfd, const struct sf_key *k, struct sf_cache_entry *e);

/*
 * sf_cache_sweep — keep dirfd from growing without bound: remove every
 * entry past its keep_until or damaged, with its data, and data files that
 * no entry names (a crash between link and rename, a lost race) once
 * nothing has linked them for SWEEP_AGE.  At most once per SWEEP_EVERY
 * in a directory, by whichever caller comes first: the file .sweep there
 * says when the last sweep began, and its lock keeps two from sweeping at
 * once (a caller that finds it locked goes on without waiting).
 */
void sf_cache_sweep(int dirfd);

/* sf_cache_sweep_at — the same as if the wall clock said at (tests). */
void sf_cache_sweep_at(int dirfd, int64_t at);

/*
 * sf_cache_list — call fn(arg, e) for every well-formed entry in dirfd that
 * is not past its keep_until, in no particular order.  Changes nothing in
 * the directory (damaged or expired entries are skipped, not removed).
 * Returns 0, or -1 with errno when the directory cannot be read or fn
 * returned -1 (which stops the walk; errno is fn's).
 */
typedef int sf_cache_list_fn(void *arg, const struct sf_cache_info *e);
int sf_cache_list(int dirfd, sf_cache_list_fn *fn, void *arg);

/*
 * sf_cache_forget — remove the key's entry from dirfd, with its data.
 * Returns 1 removed, 0 there was none (or it was another key's: a
 * collision of H), -1 with errno.
 */
int sf_cache_forget(int dirfd, const struct sf_key *k);

/* sf_cache_entry_close — close e's descriptors. */
void sf_cache_entry_close(struct sf_cache_entry *e);

#endif
