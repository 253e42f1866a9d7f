/* podserve-setuid UID GID USERNAME -- FILE [ARGS...]
 *
 * Drops root the way a login does, then execs FILE in place (same pid, so the supervisor's
 * bookkeeping and signals still reach the daemon). Why a helper: uv_spawn (and with it
 * node:child_process) calls setgroups(0, NULL) before setgid/setuid, so a daemon started with a
 * user and group loses its supplementary groups; one in group certgroup could not read a key.
 * Here the groups come from initgroups(USERNAME, GID), i.e. /etc/group (USERNAME `-`: the passwd
 * entry of UID; without one, GID is the only group).
 *
 * Any failure prints one line, "podserve-setuid: <what failed>: <strerror>", and exits 126
 * (127 when FILE is not found), the shell's codes for "cannot execute" and "not found". */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static void fail(const char *call, const char *arg, int err) {
  fprintf(stderr, "podserve-setuid: %s %s: %s\n", call, arg, strerror(err));
  exit(err == ENOENT && strcmp(call, "execvp") == 0 ? 127 : 126);
}

/* A decimal id that fits uid_t/gid_t and is not -1 (which means "unchanged" to set*id). */
static int parse_id(const char *s, unsigned long *out) {
  char *end;
  if (*s < '0' || *s > '9') return 0;
  errno = 0;
  *out = strtoul(s, &end, 10);
  return errno == 0 && *end == '\0' && *out < (unsigned long)(uid_t)-1;
}

int main(int argc, char **argv) {
  unsigned long uid, gid;
  const char *user;
  struct passwd *pw = NULL;
  gid_t g;

  if (argc < 6 || strcmp(argv[4], "--") != 0 || !parse_id(argv[1], &uid) || !parse_id(argv[2], &gid)) {
    fputs("podserve-setuid: usage: podserve-setuid UID GID USERNAME|- -- FILE [ARGS...]\n", stderr);
    return 126;
  }
  g = (gid_t)gid;
  user = argv[3];
  if (strcmp(user, "-") == 0) {
    errno = 0;
    pw = getpwuid((uid_t)uid);
    /* NULL with errno 0 (or ENOENT, ESRCH, EBADF, EPERM, per getpwuid(3)) is "no such entry";
     * anything else (EIO, EMFILE…) must not silently cost the daemon its groups. */
    if (!pw && errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF && errno != EPERM)
      fail("getpwuid", argv[1], errno);
    user = pw ? pw->pw_name : NULL;
  }
  if (user && initgroups(user, g) != 0) fail("initgroups", user, errno);
  if (!user && setgroups(1, &g) != 0) fail("setgroups", argv[2], errno);
  /* Group first: once the uid is dropped, setgid is no longer permitted. */
  if (setgid(g) != 0) fail("setgid", argv[2], errno);
  if (setuid((uid_t)uid) != 0) fail("setuid", argv[1], errno);
  /* setuid as root sets the real, effective and saved uid alike; make sure none kept root. */
  if (uid != 0 && setuid(0) != -1) {
    fprintf(stderr, "podserve-setuid: setuid 0: regained root after setuid %s\n", argv[1]);
    return 126;
  }
  execvp(argv[5], &argv[5]);
  fail("execvp", argv[5], errno);
  return 126;
}
