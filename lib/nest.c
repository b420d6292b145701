/* nest.c — the environment mark of enclosing flights; see nest.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nest.h"

/* An entry is short; the list stays bounded whatever the nesting depth. */
#define ENTRY_MAX 128
#define LIST_MAX  4096

static int
entry(int dirfd, const char *name, char *buf, size_t len)
{
	struct stat st;
	int n;

	if (fstat(dirfd, &st) == -1)
		return -1;
	n = snprintf(buf, len, "%llx:%llx:%s", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
sf_nest_mark(int dirfd, const char *name)
{
	char me[ENTRY_MAX], list[LIST_MAX];
	const char *old = getenv(SF_NEST_ENV);
	size_t keep;

	if (entry(dirfd, name, me, sizeof(me)) == -1)
		return -1;
	if (old == NULL)
		old = "";
	/* Drop the oldest entries if the list would grow past its bound. */
	keep = strlen(old);
	while (keep + strlen(me) + 2 > sizeof(list)) {
		const char *sp = strchr(old, ' ');
		if (sp == NULL) {
			old = "";
			keep = 0;
			break;
		}
		old = sp + 1;
		keep = strlen(old);
	}
	snprintf(list, sizeof(list), "%s%s%s", old, *old ? " " : "", me);
	return setenv(SF_NEST_ENV, list, 1);
}

int
sf_nest_inside(int dirfd, const char *name)
{
	char me[ENTRY_MAX];
	const char *list = getenv(SF_NEST_ENV), *p;
	size_t n;

	if (list == NULL || entry(dirfd, name, me, sizeof(me)) == -1)
		return 0;
	n = strlen(me);
	for (p = list; (p = strstr(p, me)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}
