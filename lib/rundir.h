/*
 * rundir.h — the per-user runtime directory that holds every key's lock
 * file, socket and spools.
 *
 * The directory is the security boundary: it is created 0700 and refused
 * unless it is a real directory (not a symbolic link), owned by the effective
 * uid, with no group or other permission bits.  Everything inside it is then
 * reachable only by this user, which is what makes removing a stale socket
 * or a planted file inside it safe.
 */
#ifndef SF_RUNDIR_H
#define SF_RUNDIR_H

#include <stddef.h>

/*
 * sf_rundir_default — the default runtime directory into buf:
 * "$XDG_RUNTIME_DIR/sfexec" when XDG_RUNTIME_DIR is set and non-empty,
 * else "/tmp/sfexec-$EUID".  -1/ENAMETOOLONG if it does not fit.
 */
int sf_rundir_default(char *buf, size_t size);

/*
 * sf_rundir_open — create path (mode 0700; its parent must exist) unless it
 * exists, open it O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC and check it as above.
 * Returns the directory descriptor, or -1 with errno set and a one-line
 * explanation that names the path in cause.
 */
int sf_rundir_open(const char *path, char *cause, size_t causelen);

#endif
