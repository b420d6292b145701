/*
 * scratch.h — a scratch directory for a group of unit tests, made by setup
 * and removed with all it holds by teardown.  Define it before including:
 *
 *     static char base[] = "/tmp/sf-NAME-XXXXXX";
 */
#ifndef SF_TEST_SCRATCH_H
#define SF_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(base) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
