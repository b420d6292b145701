/* rundir.c — create and check the runtime directory; see rundir.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

int
sf_rundir_default(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg != NULL && *xdg != '\0')
		n = snprintf(buf, size, "%s/sfexec", xdg);
	else
		n = snprintf(buf, size, "/tmp/sfexec-%lu", (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sf_rundir_open(const char *path, char *cause, size_t causelen)
{
	struct stat st;
	int fd, saved;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		saved = errno;
		snprintf(cause, causelen, "%s: cannot create directory: %s", path,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	/* Check the descriptor, not the name: what we check is what we use. */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		if (saved == ELOOP || (saved == ENOTDIR && lstat(path, &st) == 0 &&
		    S_ISLNK(st.st_mode))) {
			snprintf(cause, causelen, "%s: is a symbolic link", path);
			saved = ELOOP;
		} else
			snprintf(cause, causelen, "%s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		saved = errno;
		snprintf(cause, causelen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		snprintf(cause, causelen, "%s: directory is owned by uid %lu",
		    path, (unsigned long)st.st_uid);
		saved = EPERM;
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(cause, causelen,
		    "%s: directory mode %04o allows group or other access", path,
		    (unsigned)(st.st_mode & 07777));
		saved = EPERM;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}
