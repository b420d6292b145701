/* test_rundir.c — the runtime directory is created private and checked. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "rundir.h"

static char base[] = "/tmp/sf-rundir-XXXXXX";

#include "scratch.h"

static void
creates_0700(void **state)
{
	char path[256], cause[256];
	struct stat st;
	int fd;
	(void)state;
	snprintf(path, sizeof(path), "%s/new", base);
	umask(0);
	fd = sf_rundir_open(path, cause, sizeof(cause));
	assert_true(fd > 2);
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	close(fd);
}

static void
refuses_open_mode(void **state)
{
	char path[256], cause[256];
	(void)state;
	snprintf(path, sizeof(path), "%s/open", base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	errno = 0;
	assert_int_equal(sf_rundir_open(path, cause, sizeof(cause)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, "0777"));
}

static void
refuses_symlink(void **state)
{
	char path[256], target[256], cause[256];
	(void)state;
	snprintf(target, sizeof(target), "%s/real", base);
	snprintf(path, sizeof(path), "%s/link", base);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(sf_rundir_open(path, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "symbolic link"));
}

static void
refuses_other_owner(void **state)
{
	char path[256], cause[256];
	(void)state;
	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/theirs", base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(sf_rundir_open(path, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "owned by uid 65534"));
}

static void
refuses_file(void **state)
{
	char path[256], cause[256];
	int fd;
	(void)state;
	snprintf(path, sizeof(path), "%s/file", base);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	errno = 0;
	assert_int_equal(sf_rundir_open(path, cause, sizeof(cause)), -1);
	assert_int_equal(errno, ENOTDIR);
}

static void
default_path(void **state)
{
	char buf[256], want[64];
	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
	assert_int_equal(sf_rundir_default(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/42/sfexec");
	setenv("XDG_RUNTIME_DIR", "", 1);
	assert_int_equal(sf_rundir_default(buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "/tmp/sfexec-%lu", (unsigned long)geteuid());
	assert_string_equal(buf, want);
	assert_int_equal(sf_rundir_default(buf, 4), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(creates_0700),
		cmocka_unit_test(refuses_open_mode),
		cmocka_unit_test(refuses_symlink),
		cmocka_unit_test(refuses_other_owner),
		cmocka_unit_test(refuses_file),
		cmocka_unit_test(default_path),
	};
	return cmocka_run_group_tests_name("rundir", tests, setup, teardown);
}
