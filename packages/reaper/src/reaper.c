/* Reaping primitives for a Node PID 1. Deliberately never calls waitpid(-1):
 * libuv reaps the children it spawned with waitpid(<its pid>) from its SIGCHLD
 * handler, and a wildcard wait here would steal their exit statuses. The JS
 * side finds orphans (e.g. via /proc) and reaps them one pid at a time. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/wait.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <node_api.h>
#include "addon.h"

static napi_value waitpid_nohang(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], res, v, nul; double d = 0; int st = 0; pid_t pid, r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_double(env, argv[0], &d) != napi_ok) {
    napi_throw_type_error(env, NULL, "waitpidNoHang: pid must be a number"); return NULL;
  }
  /* pid <= 0 means "any child" / process-group waits: exactly what we must not do. */
  if (!(d >= 1 && d <= 2147483647.0) || d != (double)(pid = (pid_t)d)) {
    napi_throw_range_error(env, NULL, "waitpidNoHang: pid must be a positive integer"); return NULL;
  }
  do r = waitpid(pid, &st, WNOHANG); while (r < 0 && errno == EINTR);
  napi_get_null(env, &nul);
  if (r == 0) return nul;                      /* still running */
  if (r < 0) {
    if (errno == ECHILD) return nul;           /* not our child, or already reaped */
    char msg[96]; snprintf(msg, sizeof msg, "waitpid(%d): %s", pid, strerror(errno));
    napi_throw_error(env, NULL, msg); return NULL;
  }
  napi_create_object(env, &res);
  napi_create_int32(env, r, &v); napi_set_named_property(env, res, "pid", v);
  if (WIFEXITED(st)) napi_create_int32(env, WEXITSTATUS(st), &v); else v = nul;
  napi_set_named_property(env, res, "code", v);
  if (WIFSIGNALED(st)) napi_create_int32(env, WTERMSIG(st), &v); else v = nul;
  napi_set_named_property(env, res, "signal", v);
  return res;
}

/* When we are not PID 1 (e.g. under tini/docker --init, or in tests), orphans of
 * our descendants would go to the real init; a subreaper gets them instead. */
static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  napi_value b; int ok = 0;
  (void)info;
#ifdef PR_SET_CHILD_SUBREAPER
  ok = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
#endif
  napi_get_boolean(env, ok, &b);
  return b;
}

/* An init lives for the container's lifetime. Parsing and compiling the bundle at
 * start frees a lot of malloc memory that glibc keeps in its arenas; handing it
 * back keeps the idle supervisor near a bare Node's RSS (measured: ~0.3 MB). */
static napi_value release_freed_memory(napi_env env, napi_callback_info info) {
  napi_value b; int released = 0;
  (void)info;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_get_boolean(env, released, &b);
  return b;
}

/* The credentials the kernel recorded for the peer of a connected Unix socket (SO_PEERCRED):
 * who is on the other end of a control-socket connection, as the kernel saw it at connect(),
 * not as the caller claims. pid is 0 for a peer in a pid namespace we cannot see. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], res, v; int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCredentials: fd must be a non-negative integer"); return NULL;
  }
#ifdef SO_PEERCRED
  struct ucred cred; socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    char msg[96]; snprintf(msg, sizeof msg, "getsockopt(%d, SO_PEERCRED): %s", fd, strerror(errno));
    napi_throw_error(env, NULL, msg); return NULL;
  }
  napi_create_object(env, &res);
  napi_create_int32(env, cred.pid, &v); napi_set_named_property(env, res, "pid", v);
  napi_create_uint32(env, cred.uid, &v); napi_set_named_property(env, res, "uid", v);
  napi_create_uint32(env, cred.gid, &v); napi_set_named_property(env, res, "gid", v);
  return res;
#else
  napi_throw_error(env, NULL, "peerCredentials: SO_PEERCRED is not available on this system"); return NULL;
#endif
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor d[] = {
    {"waitpidNoHang", NULL, waitpid_nohang, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setChildSubreaper", NULL, set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
    {"releaseFreedMemory", NULL, release_freed_memory, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spawn", NULL, spawn_child, NULL, NULL, NULL, napi_enumerable, NULL},
    {"listenNotify", NULL, listen_notify, NULL, NULL, NULL, napi_enumerable, NULL},
    {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}
