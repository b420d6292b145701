/* list.c — sfexec --list's table and JSON Lines; see list.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "list.h"
#include "proto.h"

/*
 * Where output goes.  With fp NULL nothing is written, only counted: the
 * table measures its cells with the very code that writes them, so widths
 * cannot disagree with what is printed and nothing needs a buffer.
 */
struct out {
	FILE *fp;
	size_t len;     /* bytes put so far */
	int err;        /* errno of the first failed write, or 0 */
};

static void
put(struct out *o, const char *s, size_t n)
{
	o->len += n;
	if (o->fp == NULL || o->err != 0 || n == 0)
		return;
	/* fwrite says errno only on failure: clear it so a stale one is
	 * never reported. */
	errno = 0;
	if (fwrite(s, 1, n, o->fp) != n)
		o->err = errno != 0 ? errno : EIO;
}

static void
put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_spaces(struct out *o, size_t n)
{
	static const char sp[] = "                                ";

	while (n > 0) {
		size_t k = n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;
		put(o, sp, k);
		n -= k;
	}
}

/* The first failed write's errno, else fflush's, else the stream's. */
static int
finish(struct out *o)
{
	if (o->err == 0 && fflush(o->fp) == EOF)
		o->err = errno != 0 ? errno : EIO;
	if (o->err == 0 && ferror(o->fp))
		o->err = EIO;
	if (o->err != 0) {
		errno = o->err;
		return -1;
	}
	return 0;
}

static const char *
state_word(int state)
{
	switch (state) {
	case SF_STATE_RUNNING:    return "running";
	case SF_STATE_STOPPING:   return "stopping";
	case SF_STATE_REFRESHING: return "refreshing";
	case SF_STATE_FORGOTTEN:  return "forgotten";
	case SF_ROW_CACHED:       return "cached";
	case SF_ROW_UNRESPONSIVE: return "unresponsive";
	case SF_ROW_INCOMPATIBLE: return "incompatible";
	}
	/* A newer engine than this renderer: say so rather than guess. */
	return "unknown";
}

/*
 * The row's age in whole seconds: a flight's since it started, a stored
 * result's since its flight ended.  False when that time is unknown.  A
 * time in the future (clocks of two hosts, a step back) counts as 0.
 */
static bool
age_seconds(const struct sf_control_row *r, int64_t now_ns, int64_t *secs)
{
	int64_t t = r->state == SF_ROW_CACHED ? r->ended_ns : r->started_ns;

	if (t == 0)
		return false;
	if (t >= now_ns)
		*secs = 0;
	else    /* unsigned: the difference of two int64_t may not fit one */
		*secs = (int64_t)(((uint64_t)now_ns - (uint64_t)t) / 1000000000u);
	return true;
}

/*
 * The arguments of a row one by one: *off starts at 0.  Each is
 * NUL-terminated; a last one without its NUL (a cut that took it) still
 * counts, up to the end.
 */
static bool
next_arg(const struct sf_control_row *r, size_t *off, const uint8_t **s,
    size_t *n)
{
	const uint8_t *nul;

	if (r->argv == NULL || *off >= r->argvlen)
		return false;
	*s = r->argv + *off;
	nul = memchr(*s, '\0', r->argvlen - *off);
	*n = nul != NULL ? (size_t)(nul - *s) : r->argvlen - *off;
	*off += *n + 1;
	return true;
}

/* ---- table ---------------------------------------------------------------- */

enum {
	COL_KEY, COL_STATE, COL_PID, COL_HOST, COL_AGE, COL_INVOCATIONS,
	COL_STDOUT, COL_STDERR, COL_STATUS, COL_COMMAND, NCOLS
};

static const char *const headers[NCOLS] = {
	"KEY", "STATE", "PID", "HOST", "AGE", "INVOCATIONS", "STDOUT",
	"STDERR", "STATUS", "COMMAND",
};

/*
 * Bytes as one ASCII cell that a terminal shows as they are and that
 * cannot break the line: C escapes for the usual controls, \xNN for other
 * controls and every byte of 0x80 and up.  The backslash is doubled so
 * that the escapes are not ambiguous.
 */
static void
put_escaped(struct out *o, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[4];
	size_t i, run;

	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n && s[i + run] >= 0x20 &&
		    s[i + run] < 0x7f && s[i + run] != '\\'; run++)
			;
		if (run > 0) {
			put(o, (const char *)s + i, run);
			continue;
		}
		run = 1;
		e[0] = '\\';
		switch (s[i]) {
		case '\\': put(o, "\\\\", 2); break;
		case '\n': put(o, "\\n", 2); break;
		case '\t': put(o, "\\t", 2); break;
		case '\r': put(o, "\\r", 2); break;
		default:
			e[1] = 'x';
			e[2] = hex[s[i] >> 4];
			e[3] = hex[s[i] & 0xf];
			put(o, e, 4);
		}
	}
}

/* A size in bytes, in at most 6 characters: 512, 1.1K, 10.2M, 3.0G. */
static void
format_size(char *buf, size_t len, uint64_t size)
{
	static const char units[] = "KMGTPE";
	uint64_t u = 1024, tenths;
	int i;

	if (size < 1024) {
		snprintf(buf, len, "%" PRIu64, size);
		return;
	}
	for (i = 0;; i++, u *= 1024) {
		/* Rounded to the nearest tenth, without size * 10 overflowing;
		 * 1023.95K shows as 1.0M, not 1024.0K. */
		tenths = size / u * 10 + ((size % u) * 10 + u / 2) / u;
		if (tenths < 10240 || units[i + 1] == '\0')
			break;
	}
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10, tenths % 10,
	    units[i]);
}

static void
format_age(char *buf, size_t len, int64_t s)
{
	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 60 * 60)
		snprintf(buf, len, "%" PRId64 "m", s / 60);
	else if (s < 24 * 60 * 60)
		snprintf(buf, len, "%" PRId64 "h", s / (60 * 60));
	else
		snprintf(buf, len, "%" PRId64 "d", s / (24 * 60 * 60));
}

static void
put_key_cell(struct out *o, const struct sf_control_row *r)
{
	if (r->derived) {
		put_str(o, "(derived)");
	} else if (r->key == NULL) {
		/* An unresponsive runner never said its key; the file name is
		 * what there is to tell it from the others. */
		put_str(o, "(unknown");
		if (r->id[0] != '\0') {
			put_str(o, " ");
			put(o, r->id, strnlen(r->id, sizeof(r->id)));
		}
		put_str(o, ")");
	} else {
		put_escaped(o, r->key, r->keylen);
	}
}

static void
put_command_cell(struct out *o, const struct sf_control_row *r)
{
	const uint8_t *s;
	size_t off = 0, n;
	bool any = false;

	while (next_arg(r, &off, &s, &n)) {
		if (any)
			put_str(o, " ");
		put_escaped(o, s, n);
		any = true;
	}
	if (r->argv_cut)
		put_str(o, "...");
	else if (!any)
		put_str(o, "-");
}

/* A number, or "-" when it is not known. */
static void
put_num(struct out *o, bool known, long long v)
{
	char buf[32];

	if (!known) {
		put_str(o, "-");
		return;
	}
	snprintf(buf, sizeof(buf), "%lld", v);
	put_str(o, buf);
}

static void
put_cell(struct out *o, const struct sf_control_row *r, int col,
    int64_t now_ns)
{
	char buf[32];
	int64_t secs;

	switch (col) {
	case COL_KEY:
		put_key_cell(o, r);
		return;
	case COL_STATE:
		put_str(o, state_word(r->state));
		return;
	case COL_PID:
		put_num(o, r->runner_pid != 0, r->runner_pid);
		return;
	case COL_HOST:
		if (r->host == NULL)
			put_str(o, "-");
		else
			put_escaped(o, (const uint8_t *)r->host, strlen(r->host));
		return;
	case COL_AGE:
		if (!age_seconds(r, now_ns, &secs))
			put_str(o, "-");
		else {
			format_age(buf, sizeof(buf), secs);
			put_str(o, buf);
		}
		return;
	case COL_INVOCATIONS:
		put_num(o, r->invocations != -1, r->invocations);
		return;
	case COL_STDOUT:
	case COL_STDERR:
		if (!r->sizes_known)
			put_str(o, "-");
		else {
			format_size(buf, sizeof(buf), r->size[col == COL_STDERR]);
			put_str(o, buf);
		}
		return;
	case COL_STATUS:
		put_num(o, r->exit_status != -1, r->exit_status);
		return;
	case COL_COMMAND:
		put_command_cell(o, r);
		return;
	}
}

int
list_table(FILE *fp, const struct sf_control_row *rows, size_t n,
    int64_t now_ns)
{
	struct out o = { fp, 0, 0 }, m = { NULL, 0, 0 };
	size_t width[NCOLS], i, start;
	bool hosts = false;
	int c;

	/* HOST only when the fleet's rows are there (--list --redis). */
	for (i = 0; i < n; i++)
		hosts |= rows[i].host != NULL;
	for (c = 0; c < NCOLS; c++)
		width[c] = strlen(headers[c]);
	for (i = 0; i < n; i++)
		for (c = 0; c < COL_COMMAND; c++) {
			m.len = 0;
			put_cell(&m, &rows[i], c, now_ns);
			if (m.len > width[c])
				width[c] = m.len;
		}

	for (c = 0; c < COL_COMMAND; c++) {
		if (c == COL_HOST && !hosts)
			continue;
		put_str(&o, headers[c]);
		put_spaces(&o, width[c] - strlen(headers[c]) + 2);
	}
	put_str(&o, headers[COL_COMMAND]);
	put_str(&o, "\n");
	for (i = 0; i < n && o.err == 0; i++) {
		for (c = 0; c < COL_COMMAND; c++) {
			if (c == COL_HOST && !hosts)
				continue;
			start = o.len;
			put_cell(&o, &rows[i], c, now_ns);
			put_spaces(&o, width[c] - (o.len - start) + 2);
		}
		put_cell(&o, &rows[i], COL_COMMAND, now_ns);
		put_str(&o, "\n");
	}
	return finish(&o);
}

/* ---- JSON Lines ------------------------------------------------------------ */

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes), or 0:
 * overlong forms, surrogates and code points past U+10FFFF are not valid.
 */
static size_t
utf8_len(const uint8_t *s, size_t n)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	/* The second byte's range is what rules out the bad forms. */
	switch (s[0]) {
	case 0xe0: lo = 0xa0; break;    /* overlong */
	case 0xed: hi = 0x9f; break;    /* surrogates */
	case 0xf0: lo = 0x90; break;    /* overlong */
	case 0xf4: hi = 0x8f; break;    /* past U+10FFFF */
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Bytes as a JSON string that gives them back exactly: a key or an
 * argument is any bytes, a JSON string only Unicode.  Valid UTF-8 passes
 * as it is; a byte that is not part of it is the text \xNN, and a real
 * backslash the text \\, so the two cannot be confused.
 */
static void
put_json_bytes(struct out *o, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[8];
	size_t i, run, len;

	put_str(o, "\"");
	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n && s[i + run] >= 0x20 &&
		    s[i + run] != 0x7f && s[i + run] != '"' &&
		    s[i + run] != '\\' &&
		    (len = utf8_len(s + i + run, n - i - run)) != 0; run += len)
			;
		if (run > 0) {
			put(o, (const char *)s + i, run);
			continue;
		}
		run = 1;
		switch (s[i]) {
		case '"':  put(o, "\\\"", 2); break;
		case '\\': put(o, "\\\\\\\\", 4); break;
		case '\n': put(o, "\\n", 2); break;
		case '\t': put(o, "\\t", 2); break;
		case '\r': put(o, "\\r", 2); break;
		case '\b': put(o, "\\b", 2); break;
		case '\f': put(o, "\\f", 2); break;
		default:
			if (s[i] < 0x20 || s[i] == 0x7f) {
				snprintf(e, sizeof(e), "\\u%04x", s[i]);
				put(o, e, 6);
			} else {
				e[0] = e[1] = '\\';
				e[2] = 'x';
				e[3] = hex[s[i] >> 4];
				e[4] = hex[s[i] & 0xf];
				put(o, e, 5);
			}
		}
	}
	put_str(o, "\"");
}

/* A number field; every number of a row is >= 0 when known. */
static void
put_json_num(struct out *o, const char *name, bool known, uint64_t v)
{
	char buf[32];

	put_str(o, name);
	if (!known) {
		put_str(o, "null");
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	put_str(o, buf);
}

static void
put_json_bool(struct out *o, const char *name, bool v)
{
	put_str(o, name);
	put_str(o, v ? "true" : "false");
}

/* A CLOCK_REALTIME time as RFC 3339 UTC to the second, or null for 0. */
static void
put_json_time(struct out *o, const char *name, int64_t ns)
{
	char buf[40];
	struct tm tm;
	time_t t;
	int64_t s;

	put_str(o, name);
	s = ns / 1000000000;
	if (ns % 1000000000 < 0)
		s--;    /* floor: 0.5 s before the epoch is 23:59:59 */
	t = (time_t)s;
	if (ns == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm) == 0) {
		put_str(o, "null");
		return;
	}
	put_str(o, buf);
}

static void
put_json_row(struct out *o, const struct sf_control_row *r, int64_t now_ns)
{
	const uint8_t *s;
	size_t off = 0, n;
	int64_t age = 0;
	bool known;

	put_str(o, "{\"id\":");
	put_json_bytes(o, (const uint8_t *)r->id, strnlen(r->id, sizeof(r->id)));
	put_str(o, ",\"key\":");
	if (r->derived || r->key == NULL)
		put_str(o, "null");
	else
		put_json_bytes(o, r->key, r->keylen);
	put_json_bool(o, ",\"derived\":", r->derived);
	put_str(o, ",\"state\":\"");
	put_str(o, state_word(r->state));
	put_str(o, "\"");
	put_json_num(o, ",\"runner_pid\":", r->runner_pid > 0,
	    (uint64_t)r->runner_pid);
	put_json_time(o, ",\"started\":", r->started_ns);
	put_json_time(o, ",\"ended\":", r->ended_ns);
	known = age_seconds(r, now_ns, &age);
	put_json_num(o, ",\"age_seconds\":", known, (uint64_t)age);
	put_json_num(o, ",\"invocations\":", r->invocations >= 0,
	    (uint64_t)r->invocations);
	put_json_num(o, ",\"stdout_bytes\":", r->sizes_known, r->size[0]);
	put_json_num(o, ",\"stderr_bytes\":", r->sizes_known, r->size[1]);
	put_json_num(o, ",\"exit_status\":", r->exit_status >= 0,
	    (uint64_t)r->exit_status);
	put_str(o, ",\"argv\":[");
	while (next_arg(r, &off, &s, &n)) {
		if (s != r->argv)
			put_str(o, ",");
		put_json_bytes(o, s, n);
	}
	put_str(o, "]");
	put_json_bool(o, ",\"argv_cut\":", r->argv_cut);
	put_json_time(o, ",\"keep_until\":",
	    r->state == SF_ROW_CACHED ? r->keep_until_ns : 0);
	put_str(o, ",\"host\":");
	if (r->host == NULL)
		put_str(o, "null");
	else
		put_json_bytes(o, (const uint8_t *)r->host, strlen(r->host));
	put_str(o, "}\n");
}

int
list_json(FILE *fp, const struct sf_control_row *rows, size_t n,
    int64_t now_ns)
{
	struct out o = { fp, 0, 0 };
	size_t i;

	for (i = 0; i < n && o.err == 0; i++)
		put_json_row(&o, &rows[i], now_ns);
	return finish(&o);
}
