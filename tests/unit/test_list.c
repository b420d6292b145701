/*
 * test_list.c — sfexec --list's rendering (cmd/list.c): the table's
 * columns, alignment and escapes; the JSON Lines' fields, nulls and the
 * byte-exact string encoding, checked by a real JSON parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "list.h"
#include "proto.h"

#define S      1000000000LL
/* 2026-12-01T05:41:52Z */
#define NOW    (1796103712LL * S)

/* A running flight with everything known; tests change what they test. */
static struct sf_control_row
row(const char *key)
{
	struct sf_control_row r;

	memset(&r, 0, sizeof(r));
	r.state = SF_STATE_RUNNING;
	strcpy(r.id, "0123456789abcdef0123456789abcdef");
	r.key = (uint8_t *)key;
	r.keylen = key != NULL ? strlen(key) : 0;
	r.runner_pid = 41022;
	r.started_ns = NOW - 12 * 60 * S;
	r.invocations = 3;
	r.sizes_known = true;
	r.exit_status = -1;
	return r;
}

/* The arguments packed as control.h has them: NUL-terminated, back to back. */
static void
set_argv(struct sf_control_row *r, const char *packed, size_t len)
{
	r->argv = (uint8_t *)packed;
	r->argvlen = len;
}
#define SET_ARGV(r, lit) set_argv((r), (lit), sizeof(lit) - 1)

/* What list_table (json false) or list_json writes for rows; free it. */
static char *
render(bool json, const struct sf_control_row *rows, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	assert_non_null(fp = open_memstream(&buf, &len));
	if (json)
		assert_int_equal(list_json(fp, rows, n, NOW), 0);
	else
		assert_int_equal(list_table(fp, rows, n, NOW), 0);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/*
 * The cell of column name in a one-row table: from where the header's
 * name starts to where the next column's does (or the end of the line),
 * less the padding.  Taking offsets from the header checks alignment too.
 */
static char *
cell(const struct sf_control_row *r, const char *name)
{
	static char out[1 << 16];
	char *t = render(false, r, 1), *line, *h, *next, *end;
	size_t from, to;

	assert_non_null(line = strchr(t, '\n'));
	line++;
	assert_non_null(h = strstr(t, name));
	from = (size_t)(h - t);
	next = strchr(h, ' ');
	if (next != NULL && next < line - 1) {
		while (*next == ' ')
			next++;
		to = (size_t)(next - t);
	} else {
		to = SIZE_MAX;
	}
	end = strchr(line, '\n');
	assert_non_null(end);
	assert_null(strchr(end + 1, '\n'));     /* one row */
	if (to == SIZE_MAX || line + to > end)
		to = (size_t)(end - line);
	else    /* two spaces at least between columns */
		assert_memory_equal(line + to - 2, "  ", 2);
	assert_true(from <= to);
	memcpy(out, line + from, to - from);
	out[to - from] = '\0';
	if (to != (size_t)(end - line))
		for (end = out + strlen(out); end > out && end[-1] == ' '; )
			*--end = '\0';
	free(t);
	return out;
}

static void
table_header_alone(void **state)
{
	char *t;
	(void)state;
	t = render(false, NULL, 0);
	assert_string_equal(t,
	    "KEY  STATE  PID  AGE  INVOCATIONS  STDOUT  STDERR  STATUS  COMMAND\n");
	free(t);
}

static void
table_aligns_to_the_widest_cell(void **state)
{
	struct sf_control_row r[2];
	char *t;
	(void)state;
	r[0] = row("mirror-sync");
	r[0].size[0] = 10695475;                /* 10.2M */
	SET_ARGV(&r[0], "rsync\0-a\0src/\0dst/\0");
	r[1] = row("api-token");
	r[1].state = SF_ROW_CACHED;
	r[1].runner_pid = 0;
	r[1].started_ns = NOW - 41 * S;
	r[1].ended_ns = NOW - 40 * S;
	r[1].keep_until_ns = NOW + 20 * S;
	r[1].invocations = -1;
	r[1].size[0] = 1126;                    /* 1.1K */
	r[1].exit_status = 0;
	SET_ARGV(&r[1], "curl\0-s\0https://example.com/token\0");
	t = render(false, r, 2);
	assert_string_equal(t,
	    "KEY          STATE    PID    AGE  INVOCATIONS  STDOUT  STDERR  STATUS  COMMAND\n"
	    "mirror-sync  running  41022  12m  3            10.2M   0       -       rsync -a src/ dst/\n"
	    "api-token    cached   -      40s  -            1.1K    0       0       curl -s https://example.com/token\n");
	free(t);
}

static void
table_state_words(void **state)
{
	static const struct { int state; const char *word; } w[] = {
		{ SF_STATE_RUNNING, "running" },
		{ SF_STATE_STOPPING, "stopping" },
		{ SF_STATE_REFRESHING, "refreshing" },
		{ SF_STATE_FORGOTTEN, "forgotten" },
		{ SF_ROW_CACHED, "cached" },
		{ SF_ROW_UNRESPONSIVE, "unresponsive" },
		{ SF_ROW_INCOMPATIBLE, "incompatible" },
		{ 99, "unknown" },
	};
	struct sf_control_row r = row("k");
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		r.state = w[i].state;
		assert_string_equal(cell(&r, "STATE"), w[i].word);
	}
}

static void
table_ages(void **state)
{
	static const struct { int64_t ago; const char *age; } a[] = {
		{ 0, "0s" }, { 59 * S, "59s" }, { 60 * S - 1, "59s" },
		{ 60 * S, "1m" }, { 3599 * S, "59m" }, { 3600 * S, "1h" },
		{ 86399 * S, "23h" }, { 86400 * S, "1d" }, { 400 * 86400 * S, "400d" },
		{ -5 * S, "0s" },       /* started in the future: a clock step */
	};
	struct sf_control_row r = row("k");
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		r.started_ns = NOW - a[i].ago;
		assert_string_equal(cell(&r, "AGE"), a[i].age);
	}
	r.started_ns = 0;
	assert_string_equal(cell(&r, "AGE"), "-");
	/* A stored result's age is its flight's end's. */
	r.state = SF_ROW_CACHED;
	r.started_ns = NOW - 7200 * S;
	r.ended_ns = NOW - 90 * S;
	assert_string_equal(cell(&r, "AGE"), "1m");
	r.ended_ns = 0;
	assert_string_equal(cell(&r, "AGE"), "-");
}

static void
table_sizes(void **state)
{
	static const struct { uint64_t size; const char *text; } z[] = {
		{ 0, "0" }, { 512, "512" }, { 1023, "1023" }, { 1024, "1.0K" },
		{ 1126, "1.1K" }, { 1024 * 1023 + 972, "1023.9K" },
		{ 1024 * 1023 + 973, "1.0M" },  /* 1023.95K rounds up a unit */
		{ 10695475, "10.2M" }, { 3ULL << 30, "3.0G" },
		{ 3ULL << 39, "1.5T" }, { UINT64_MAX, "16.0E" },
	};
	struct sf_control_row r = row("k");
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		r.size[0] = z[i].size;
		r.size[1] = 5;
		assert_string_equal(cell(&r, "STDOUT"), z[i].text);
		assert_string_equal(cell(&r, "STDERR"), "5");
		r.size[0] = 5;
		r.size[1] = z[i].size;
		assert_string_equal(cell(&r, "STDERR"), z[i].text);
	}
	r.sizes_known = false;
	assert_string_equal(cell(&r, "STDOUT"), "-");
	assert_string_equal(cell(&r, "STDERR"), "-");
}

static void
table_unknown_numbers_are_dashes(void **state)
{
	struct sf_control_row r = row("k");
	(void)state;
	assert_string_equal(cell(&r, "PID"), "41022");
	assert_string_equal(cell(&r, "INVOCATIONS"), "3");
	assert_string_equal(cell(&r, "STATUS"), "-");
	r.runner_pid = 0;
	r.invocations = -1;
	r.exit_status = 137;
	assert_string_equal(cell(&r, "PID"), "-");
	assert_string_equal(cell(&r, "INVOCATIONS"), "-");
	assert_string_equal(cell(&r, "STATUS"), "137");
	r.exit_status = 0;
	assert_string_equal(cell(&r, "STATUS"), "0");
}

static void
table_escapes_keys(void **state)
{
	static const uint8_t k[] = "a b\n\t\r\\\xff\x01\x7f~\xc3\xa9";
	struct sf_control_row r = row(NULL);
	(void)state;
	r.key = (uint8_t *)k;
	r.keylen = sizeof(k) - 1;
	/* UTF-8 too: the table stays ASCII, one byte a column. */
	assert_string_equal(cell(&r, "KEY"),
	    "a b\\n\\t\\r\\\\\\xff\\x01\\x7f~\\xc3\\xa9");
	/* A NUL byte is a byte like another. */
	r.key = (uint8_t *)"x\0y";
	r.keylen = 3;
	assert_string_equal(cell(&r, "KEY"), "x\\x00y");
}

static void
table_derived_and_unknown_keys(void **state)
{
	struct sf_control_row r = row(NULL);
	(void)state;
	r.derived = true;
	assert_string_equal(cell(&r, "KEY"), "(derived)");
	r.derived = false;
	r.state = SF_ROW_UNRESPONSIVE;
	assert_string_equal(cell(&r, "KEY"),
	    "(unknown 0123456789abcdef0123456789abcdef)");
	r.id[0] = '\0';
	assert_string_equal(cell(&r, "KEY"), "(unknown)");
}

static void
table_command(void **state)
{
	struct sf_control_row r = row("k");
	(void)state;
	assert_string_equal(cell(&r, "COMMAND"), "-");
	SET_ARGV(&r, "sh\0-c\0echo 'a\tb'\\\n\xff\0");
	assert_string_equal(cell(&r, "COMMAND"),
	    "sh -c echo 'a\\tb'\\\\\\n\\xff");
	/* Cut: the last argument lost its end, perhaps its NUL too. */
	SET_ARGV(&r, "printf\0abc");
	r.argv_cut = true;
	assert_string_equal(cell(&r, "COMMAND"), "printf abc...");
	SET_ARGV(&r, "printf\0abc\0");
	assert_string_equal(cell(&r, "COMMAND"), "printf abc...");
	/* An empty argument still takes its place. */
	SET_ARGV(&r, "a\0\0b\0");
	r.argv_cut = false;
	assert_string_equal(cell(&r, "COMMAND"), "a  b");
}

static void
table_command_is_not_padded(void **state)
{
	struct sf_control_row r[2];
	char *t;
	(void)state;
	r[0] = row("a-long-key");
	SET_ARGV(&r[0], "true\0");
	r[1] = row("k");
	SET_ARGV(&r[1], "a-much-longer-command\0");
	t = render(false, r, 2);
	assert_string_equal(t,
	    "KEY         STATE    PID    AGE  INVOCATIONS  STDOUT  STDERR  STATUS  COMMAND\n"
	    "a-long-key  running  41022  12m  3            0       0       -       true\n"
	    "k           running  41022  12m  3            0       0       -       a-much-longer-command\n");
	free(t);
}

static void
table_long_key(void **state)
{
	static char k[4097];
	struct sf_control_row r = row(NULL);
	char *t, want[4 * 4096 + 1];
	int i;
	(void)state;
	memset(k, 0xff, 4096);
	r.key = (uint8_t *)k;
	r.keylen = 4096;
	for (i = 0; i < 4096; i++)
		memcpy(want + 4 * i, "\\xff", 4);
	want[4 * 4096] = '\0';
	assert_string_equal(cell(&r, "KEY"), want);
	t = render(false, &r, 1);
	/* The header's KEY is padded to the escaped key's width. */
	assert_int_equal(strspn(t + 3, " "), 4 * 4096 - 3 + 2);
	free(t);
}

static void
json_full_row(void **state)
{
	struct sf_control_row r[2];
	char *j;
	(void)state;
	r[0] = row("mirror-sync");
	r[0].size[0] = 10695475;
	SET_ARGV(&r[0], "rsync\0-a\0src/\0dst/\0");
	r[1] = row("api-token");
	r[1].state = SF_ROW_CACHED;
	r[1].runner_pid = 0;
	r[1].started_ns = NOW - 41 * S - S / 2;
	r[1].ended_ns = NOW - 40 * S;
	r[1].keep_until_ns = NOW + 20 * S + S / 2;
	r[1].invocations = -1;
	r[1].size[0] = 1126;
	r[1].exit_status = 0;
	SET_ARGV(&r[1], "curl\0-s\0");
	j = render(true, r, 2);
	assert_string_equal(j,
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"key\":\"mirror-sync\","
	    "\"derived\":false,\"state\":\"running\",\"runner_pid\":41022,"
	    "\"started\":\"2026-12-01T05:29:52Z\",\"ended\":null,\"age_seconds\":720,"
	    "\"invocations\":3,\"stdout_bytes\":10695475,\"stderr_bytes\":0,"
	    "\"exit_status\":null,\"argv\":[\"rsync\",\"-a\",\"src/\",\"dst/\"],"
	    "\"argv_cut\":false,\"keep_until\":null,\"host\":null}\n"
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"key\":\"api-token\","
	    "\"derived\":false,\"state\":\"cached\",\"runner_pid\":null,"
	    "\"started\":\"2026-12-01T05:41:10Z\",\"ended\":\"2026-12-01T05:41:12Z\","
	    "\"age_seconds\":40,\"invocations\":null,\"stdout_bytes\":1126,"
	    "\"stderr_bytes\":0,\"exit_status\":0,\"argv\":[\"curl\",\"-s\"],"
	    "\"argv_cut\":false,\"keep_until\":\"2026-12-01T05:42:12Z\",\"host\":null}\n");
	free(j);
}

static void
json_nulls(void **state)
{
	struct sf_control_row r = row(NULL);
	char *j;
	(void)state;
	r.state = SF_ROW_UNRESPONSIVE;
	r.runner_pid = 0;
	r.started_ns = 0;
	r.invocations = -1;
	r.sizes_known = false;
	r.size[0] = 7;
	r.keep_until_ns = NOW;  /* not a stored result: not shown */
	j = render(true, &r, 1);
	assert_string_equal(j,
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"key\":null,"
	    "\"derived\":false,\"state\":\"unresponsive\",\"runner_pid\":null,"
	    "\"started\":null,\"ended\":null,\"age_seconds\":null,"
	    "\"invocations\":null,\"stdout_bytes\":null,\"stderr_bytes\":null,"
	    "\"exit_status\":null,\"argv\":[],\"argv_cut\":false,"
	    "\"keep_until\":null,\"host\":null}\n");
	free(j);
}

static void
json_derived_and_cut(void **state)
{
	struct sf_control_row r = row(NULL);
	char *j;
	(void)state;
	r.derived = true;
	r.state = SF_STATE_FORGOTTEN;
	r.started_ns = NOW + 3 * S;     /* in the future: age 0 */
	r.ended_ns = NOW - S;
	r.exit_status = 143;
	SET_ARGV(&r, "echo\0abc");
	r.argv_cut = true;
	j = render(true, &r, 1);
	assert_string_equal(j,
	    "{\"id\":\"0123456789abcdef0123456789abcdef\",\"key\":null,"
	    "\"derived\":true,\"state\":\"forgotten\",\"runner_pid\":41022,"
	    "\"started\":\"2026-12-01T05:41:55Z\",\"ended\":\"2026-12-01T05:41:51Z\","
	    "\"age_seconds\":0,\"invocations\":3,\"stdout_bytes\":0,"
	    "\"stderr_bytes\":0,\"exit_status\":143,\"argv\":[\"echo\",\"abc\"],"
	    "\"argv_cut\":true,\"keep_until\":null,\"host\":null}\n");
	free(j);
}

/* The "key" member of the one JSON line for a row with key k. */
static char *
json_key(const char *k, size_t n)
{
	static char out[1 << 16];
	struct sf_control_row r = row(NULL);
	char *j, *p, *e;

	r.key = (uint8_t *)k;
	r.keylen = n;
	j = render(true, &r, 1);
	assert_non_null(p = strstr(j, ",\"key\":"));
	p += strlen(",\"key\":");
	assert_non_null(e = strstr(p, ",\"derived\":"));
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	free(j);
	return out;
}
#define JSON_KEY(lit) json_key((lit), sizeof(lit) - 1)

static void
json_string_encoding(void **state)
{
	(void)state;
	assert_string_equal(JSON_KEY("plain key"), "\"plain key\"");
	/* A real backslash is \\ in the text: \\\\ in JSON source. */
	assert_string_equal(JSON_KEY("a\\b"), "\"a\\\\\\\\b\"");
	/* A byte that is not UTF-8 is the text \xNN: \\xNN in JSON source. */
	assert_string_equal(JSON_KEY("a\xff" "b"), "\"a\\\\xffb\"");
	assert_string_equal(JSON_KEY("\"q\""), "\"\\\"q\\\"\"");
	assert_string_equal(JSON_KEY("\n\t\r\b\f\x01\x1f\x7f"),
	    "\"\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f\"");
	assert_string_equal(json_key("x\0y", 3), "\"x\\u0000y\"");
	/* Valid UTF-8 passes as it is: 2, 3 and 4 bytes, and the edges. */
	assert_string_equal(JSON_KEY("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"),
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\"");
	assert_string_equal(JSON_KEY("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
	    "\xee\x80\x80\xf4\x8f\xbf\xbf"),
	    "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
	    "\xee\x80\x80\xf4\x8f\xbf\xbf\"");
	/* Overlong forms, surrogates, past U+10FFFF, cut or stray bytes:
	 * every byte of them escaped. */
	assert_string_equal(JSON_KEY("\xc0\xaf"), "\"\\\\xc0\\\\xaf\"");
	assert_string_equal(JSON_KEY("\xc1\xbf"), "\"\\\\xc1\\\\xbf\"");
	assert_string_equal(JSON_KEY("\xe0\x80\xaf"),
	    "\"\\\\xe0\\\\x80\\\\xaf\"");
	assert_string_equal(JSON_KEY("\xed\xa0\x80"),
	    "\"\\\\xed\\\\xa0\\\\x80\"");
	assert_string_equal(JSON_KEY("\xf0\x80\x80\xaf"),
	    "\"\\\\xf0\\\\x80\\\\x80\\\\xaf\"");
	assert_string_equal(JSON_KEY("\xf4\x90\x80\x80"),
	    "\"\\\\xf4\\\\x90\\\\x80\\\\x80\"");
	assert_string_equal(JSON_KEY("\xf5\xbf"), "\"\\\\xf5\\\\xbf\"");
	assert_string_equal(JSON_KEY("\xe2\x82"), "\"\\\\xe2\\\\x82\"");
	assert_string_equal(JSON_KEY("\xe2\x82z"), "\"\\\\xe2\\\\x82z\"");
	assert_string_equal(JSON_KEY("\x80\xc3\xa9"), "\"\\\\x80\xc3\xa9\"");
}

static void
json_argv_encoding(void **state)
{
	struct sf_control_row r = row("k");
	char *j;
	(void)state;
	SET_ARGV(&r, "sh\0-c\0echo \"\\\xff\"\n\0\0\xc3\xa9\0");
	j = render(true, &r, 1);
	assert_non_null(strstr(j,
	    ",\"argv\":[\"sh\",\"-c\",\"echo \\\"\\\\\\\\\\\\xff\\\"\\n\",\"\","
	    "\"\xc3\xa9\"],"));
	free(j);
}

/* s as hex digits, as Python's bytes.hex() writes them, into out. */
static void
hexof(const char *s, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", (uint8_t)s[i]);
	out[2 * n] = '\0';
}

/*
 * Python's json module parses every line, and undoing the two escapes of
 * the encoding gives each key's and argument's bytes back.
 */
static void
json_is_valid_and_recoverable(void **state)
{
	static const char *const keys[] = {
		"plain", "a b", "a\\b", "\\xff", "\xff\xfe", "\"\n\t\x01\x7f",
		"caf\xc3\xa9", "\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf",
		"\xf0\x9d\x84\x9e\\x41\\\\",
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	/* chr(92), not backslashes: this is C source quoting Python. */
	static const char py[] =
	    "import json, sys\n"
	    "bs = chr(92)\n"
	    "def raw(s):\n"
	    "    out, i = bytearray(), 0\n"
	    "    while i < len(s):\n"
	    "        if s.startswith(bs + bs, i):\n"
	    "            out.append(92); i += 2\n"
	    "        elif s.startswith(bs + 'x', i):\n"
	    "            out.append(int(s[i + 2:i + 4], 16)); i += 4\n"
	    "        else:\n"
	    "            out += s[i].encode(); i += 1\n"
	    "    return bytes(out)\n"
	    "for l in sys.stdin:\n"
	    "    o = json.loads(l)\n"
	    "    k = 'null' if o['key'] is None else raw(o['key']).hex()\n"
	    "    print(k, *[raw(a).hex() for a in o['argv']])\n";
	struct sf_control_row r[N + 1];
	char path[] = "/tmp/test_list.XXXXXX", cmd[256], line[1024];
	char want[1024], h[256];
	size_t i, len;
	uint8_t *argv;
	FILE *fp, *p;
	int fd;
	(void)state;

	for (i = 0; i < N; i++) {
		/* The arguments: the key again, then "x". */
		r[i] = row(keys[i]);
		len = strlen(keys[i]);
		assert_non_null(argv = malloc(len + 3));
		memcpy(argv, keys[i], len + 1);
		memcpy(argv + len + 1, "x", 2);
		r[i].argv = argv;
		r[i].argvlen = len + 3;
	}
	r[N] = row(NULL);
	r[N].derived = true;
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_int_equal(list_json(fp, r, N + 1, NOW), 0);
	assert_int_equal(fclose(fp), 0);

	assert_int_equal(setenv("TEST_LIST_PY", py, 1), 0);
	snprintf(cmd, sizeof(cmd), "python3 -c \"$TEST_LIST_PY\" <%s", path);
	assert_non_null(p = popen(cmd, "r"));
	for (i = 0; i < N; i++) {
		hexof(keys[i], strlen(keys[i]), h);
		snprintf(want, sizeof(want), "%s %s 78\n", h, h);
		assert_non_null(fgets(line, sizeof(line), p));
		assert_string_equal(line, want);
		free(r[i].argv);
	}
	assert_non_null(fgets(line, sizeof(line), p));
	assert_string_equal(line, "null\n");
	assert_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	unlink(path);
}

static void
json_lines_parse(void **state)
{
	struct sf_control_row r[3];
	char path[] = "/tmp/test_list.XXXXXX", cmd[256];
	FILE *fp;
	int fd;
	(void)state;
	r[0] = row("a\\\"\xff\n");
	SET_ARGV(&r[0], "x\0\xc3\0");
	r[1] = row(NULL);
	r[1].derived = true;
	r[2] = row(NULL);
	r[2].state = SF_ROW_INCOMPATIBLE;
	r[2].sizes_known = false;
	r[2].started_ns = 0;
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_int_equal(list_json(fp, r, 3, NOW), 0);
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; "
	    "n = len([json.loads(l) for l in sys.stdin]); sys.exit(n != 3)' <%s",
	    path);
	assert_non_null(fp = popen(cmd, "r"));
	assert_int_equal(pclose(fp), 0);
	unlink(path);
}

static void
write_errors_are_reported(void **state)
{
	struct sf_control_row r = row("k");
	FILE *fp;
	(void)state;
	if ((fp = fopen("/dev/full", "w")) == NULL)
		skip();
	errno = 0;
	assert_int_equal(list_table(fp, &r, 1, NOW), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(fp);
	/* Unbuffered: the first write fails, not the flush. */
	assert_non_null(fp = fopen("/dev/full", "w"));
	setvbuf(fp, NULL, _IONBF, 0);
	errno = 0;
	assert_int_equal(list_json(fp, &r, 1, NOW), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(fp);
}

/* Rows of the fleet's (--list --redis): a HOST column, shown only then,
 * with "-" for this host's rows; "host" in JSON. */
static void
table_and_json_with_hosts(void **state)
{
	struct sf_control_row r[2];
	char *t;
	(void)state;
	r[0] = row("mirror-sync");
	r[0].size[0] = 10695475;
	SET_ARGV(&r[0], "rsync\0-a\0src/\0dst/\0");
	r[1] = r[0];
	r[1].key = NULL;
	r[1].runner_pid = 7;
	r[1].invocations = -1;
	r[1].host = (char *)"web-3";
	t = render(false, r, 2);
	assert_string_equal(t,
	    "KEY                                         STATE    PID    HOST   AGE  INVOCATIONS  STDOUT  STDERR  STATUS  COMMAND\n"
	    "mirror-sync                                 running  41022  -      12m  3            10.2M   0       -       rsync -a src/ dst/\n"
	    "(unknown 0123456789abcdef0123456789abcdef)  running  7      web-3  12m  -            10.2M   0       -       rsync -a src/ dst/\n");
	free(t);
	t = render(true, &r[1], 1);
	assert_non_null(strstr(t, ",\"host\":\"web-3\"}\n"));
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_header_alone),
		cmocka_unit_test(table_aligns_to_the_widest_cell),
		cmocka_unit_test(table_and_json_with_hosts),
		cmocka_unit_test(table_state_words),
		cmocka_unit_test(table_ages),
		cmocka_unit_test(table_sizes),
		cmocka_unit_test(table_unknown_numbers_are_dashes),
		cmocka_unit_test(table_escapes_keys),
		cmocka_unit_test(table_derived_and_unknown_keys),
		cmocka_unit_test(table_command),
		cmocka_unit_test(table_command_is_not_padded),
		cmocka_unit_test(table_long_key),
		cmocka_unit_test(json_full_row),
		cmocka_unit_test(json_nulls),
		cmocka_unit_test(json_derived_and_cut),
		cmocka_unit_test(json_string_encoding),
		cmocka_unit_test(json_argv_encoding),
		cmocka_unit_test(json_is_valid_and_recoverable),
		cmocka_unit_test(json_lines_parse),
		cmocka_unit_test(write_errors_are_reported),
	};
	return cmocka_run_group_tests_name("list", tests, NULL, NULL);
}
