/*
 * fleet_none.c — fleet.h in a build without Redis (make REDIS=no): the
 * CLI's check refuses --redis with one line, so a runner never gets a
 * fleet to start.
 */
#include <errno.h>
#include <stdio.h>

#include "fleet.h"

int
sf_fleet_check(const struct sf_fleet_conf *conf, char *cause, size_t causelen)
{
	(void)conf;
	snprintf(cause, causelen, "--redis: this sfexec was built without "
	    "Redis support (make REDIS=no)");
	errno = ENOTSUP;
	return -1;
}

int
sf_fleet_start(struct sf_fleet *f)
{
	(void)f;
	errno = ENOTSUP;
	return -1;
}

void sf_fleet_grew(struct sf_fleet *f) { (void)f; }
void sf_fleet_finish(struct sf_fleet *f, const struct sf_msg *exit, uint64_t keep_ms) { (void)f; (void)exit; (void)keep_ms; }
void sf_fleet_keep(struct sf_fleet *f, uint64_t keep_ms) { (void)f; (void)keep_ms; }
void sf_fleet_abandon(struct sf_fleet *f) { (void)f; }
void sf_fleet_release(struct sf_fleet *f) { f->settled = true; }
void sf_fleet_free(struct sf_fleet *f) { (void)f; }

int
sf_fleet_list(const struct sf_fleet_conf *conf, int64_t now_ns,
    struct sf_control_row **rows, size_t *n, char *cause, size_t causelen)
{
	(void)now_ns;
	(void)rows;
	(void)n;
	return sf_fleet_check(conf, cause, causelen);
}

int
sf_fleet_steer(const struct sf_fleet_conf *conf, const char *name, int what,
    long grace_ms, char *cause, size_t causelen)
{
	(void)name;
	(void)what;
	(void)grace_ms;
	return sf_fleet_check(conf, cause, causelen);
}
