/* test_redis.c — the --redis URL grammar (redis.h): what it takes, what
 * it gives, and the one-line reasons for what it refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "redis.h"

static void
good(const char *s, const char *host, int port, const char *path,
    const char *user, long db)
{
	struct sf_redis_url u;
	char cause[200] = "";

	if (sf_redis_url_parse(s, &u, cause, sizeof(cause)) != 0)
		fail_msg("%s refused: %s", s, cause);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.path, path);
	assert_string_equal(u.user, user);
	assert_int_equal(u.db, db);
}

static void
bad(const char *s, const char *why)
{
	struct sf_redis_url u;
	char cause[200] = "";

	errno = 0;
	if (sf_redis_url_parse(s, &u, cause, sizeof(cause)) != -1)
		fail_msg("%s accepted", s);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(cause, why);
}

static void
accepted(void **state)
{
	(void)state;
	good("redis://localhost", "localhost", 6379, "", "", 0);
	good("redis://10.0.0.7:6380", "10.0.0.7", 6380, "", "", 0);
	good("redis://cache.internal:7000/3", "cache.internal", 7000, "", "", 3);
	good("redis://sfexec@cache.internal/2", "cache.internal", 6379, "", "sfexec", 2);
	good("redis://[::1]:6390/1", "::1", 6390, "", "", 1);
	good("redis://[fe80::1%eth0]", "fe80::1%eth0", 6379, "", "", 0);
	good("redis://h/", "h", 6379, "", "", 0);
	good("unix:///run/redis/redis.sock", "", 6379, "/run/redis/redis.sock", "", 0);
	good("unix:///tmp/r.sock?db=5", "", 6379, "/tmp/r.sock", "", 5);
}

static void
refused(void **state)
{
	char longpath[200];
	(void)state;
	bad("", "not a Redis URL (redis://HOST[:PORT][/DB] or unix:///PATH)");
	bad("http://h", "not a Redis URL (redis://HOST[:PORT][/DB] or unix:///PATH)");
	bad("rediss://h", "rediss:// (TLS) is not supported; reach Redis through "
	    "a local TLS tunnel");
	bad("redis://u:pw@h", "a password in the URL would show in ps: set "
	    "SFEXEC_REDIS_PASSWORD instead");
	bad("redis://:pw@h", "a password in the URL would show in ps: set "
	    "SFEXEC_REDIS_PASSWORD instead");
	bad("redis://@h", "bad user name in the URL");
	bad("redis://", "no host in the URL");
	bad("redis://:6379", "no host in the URL");
	bad("redis://h:0", "bad port in the URL");
	bad("redis://h:65536", "bad port in the URL");
	bad("redis://h:12ab", "bad port in the URL");
	bad("redis://h:", "bad port in the URL");
	bad("redis://h/x", "bad database number in the URL");
	bad("redis://h/-1", "bad database number in the URL");
	bad("redis://h/99999999999", "bad database number in the URL");
	bad("redis://h o", "bad host name in the URL");
	bad("redis://[::1", "unterminated [address]");
	bad("redis://[::1]x", "junk after ]");
	bad("unix://r.sock", "unix:// needs an absolute path (unix:///run/redis.sock)");
	bad("unix:///r.sock?db=x", "unix:// takes only ?db=N after the path");
	bad("unix:///r.sock?timeout=1", "unix:// takes only ?db=N after the path");
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "unix:///", 8);
	longpath[sizeof(longpath) - 1] = '\0';
	bad(longpath, "socket path too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted),
		cmocka_unit_test(refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
