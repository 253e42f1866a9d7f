/* An sd_notify receiver: the AF_UNIX datagram socket a daemon finds in $NOTIFY_SOCKET and
 * sends "READY=1", "STATUS=…", "WATCHDOG=1" … to. node:dgram has no AF_UNIX sockets, hence C.
 *
 * The socket is watched with a uv_poll_t on Node's own loop; each datagram becomes
 *   onMessage(text, senderPid | null)
 * where the pid comes from SCM_CREDENTIALS (SO_PASSCRED makes the kernel attach them to every
 * datagram; only a privileged sender could claim another pid; null when there is none).
 * The poll handle is unref'd: an open listener does not keep the process alive (the runtime
 * has its own keep-alive); close() stops it, closes the fd and unlinks the socket file.
 *
 * Memory: one listener_t is shared by the libuv handle and the JS close() function; it is freed
 * when both are done with it (the handle closed, the function garbage-collected), so calling
 * close() again after the handle is gone is safe. Main thread only, like spawn.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include "addon.h"

/* Notifications are a few short lines; systemd accepts more, but we only need text. Bigger
 * datagrams arrive truncated (MSG_TRUNC) and are dropped rather than delivered cut short. */
#define NOTIFY_MAX 65536

typedef struct {
  uv_poll_t poll;
  int fd;
  int closed;
  int refs; /* 2: the libuv handle and the JS close() function */
  napi_env env;
  napi_ref on_message;
  napi_async_context async;
  char *unlink_path; /* the socket file to remove on close; NULL for an abstract name */
} listener_t;

/* One receive buffer for every listener: datagrams are delivered one at a time on the main
 * thread, and JS gets a copy, so nothing outlives the callback. Untouched pages cost no RSS. */
static char recv_buf[NOTIFY_MAX];

static void release(listener_t *l) {
  if (--l->refs > 0) return;
  free(l->unlink_path);
  free(l);
}

static void on_poll_closed(uv_handle_t *h) {
  listener_t *l = h->data;
  /* Here, not in close(): close() may run inside onMessage, under this very async context. */
  napi_delete_reference(l->env, l->on_message);
  napi_async_destroy(l->env, l->async);
  release(l);
}

static void close_listener(listener_t *l) {
  if (l->closed) return;
  l->closed = 1;
  uv_poll_stop(&l->poll); /* an fd must not be closed while a poll handle watches it */
  uv_close((uv_handle_t *)&l->poll, on_poll_closed);
  close(l->fd);
  if (l->unlink_path) unlink(l->unlink_path);
}

static void deliver(listener_t *l, size_t len, pid_t pid) {
  napi_env env = l->env;
  napi_handle_scope scope;
  napi_value fn, recv, result, err, argv[2];
  bool pending = false;
  napi_open_handle_scope(env, &scope);
  napi_create_string_utf8(env, recv_buf, len, &argv[0]); /* invalid UTF-8 becomes U+FFFD */
  if (pid > 0) napi_create_int32(env, pid, &argv[1]);
  else napi_get_null(env, &argv[1]);
  napi_get_reference_value(env, l->on_message, &fn);
  napi_get_global(env, &recv);
  /* As in spawn.c: an exception thrown by onMessage becomes an uncaughtException. */
  if (napi_make_callback(env, l->async, recv, fn, 2, argv, &result) != napi_ok &&
      napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  listener_t *l = p->data;
  (void)events;
  if (status < 0) return; /* EBADF & co: nothing readable; close() is the caller's to make */
  /* Edge or level, drain the queue: one wakeup may stand for many datagrams. */
  while (!l->closed) {
    /* Room for credentials and for the most fds one message can carry (SCM_MAX_FD = 253). */
    /* A union, so the control buffer is aligned for struct cmsghdr as CMSG_* expect. */
    union {
      char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int))];
      struct cmsghdr align;
    } cbuf;
    struct iovec iov = {recv_buf, sizeof recv_buf};
    struct msghdr mh;
    struct cmsghdr *cm;
    pid_t pid = 0;
    ssize_t n;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.buf;
    mh.msg_controllen = sizeof cbuf.buf;
    n = recvmsg(l->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* EAGAIN: drained */
    }
    for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level != SOL_SOCKET) continue;
      if (cm->cmsg_type == SCM_CREDENTIALS && cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(cm), sizeof cred);
        pid = cred.pid; /* 0 when the sender is outside our pid namespace */
      } else if (cm->cmsg_type == SCM_RIGHTS) {
        /* sd_pid_notify_with_fds() (the fd store) passes fds we do not keep: close them, or
         * every such message would leak descriptors into the init. */
        int nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < nfds; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
          close(fd);
        }
      }
    }
    if (mh.msg_flags & MSG_TRUNC) continue; /* larger than NOTIFY_MAX: dropped, not cut */
    deliver(l, (size_t)n, pid);
  }
}

/* Throws an Error shaped like Node's system errors: code, errno (negative), syscall, path. */
static napi_value throw_sys_error(napi_env env, const char *syscall, const char *path, int sys_errno) {
  int err = uv_translate_sys_error(sys_errno);
  char msg[512];
  napi_value error, code_v, msg_v, v;
  snprintf(msg, sizeof msg, "listenNotify: %s %s %s (%s)", syscall, uv_err_name(err), path, uv_strerror(err));
  napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "path", v);
  napi_throw(env, error);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  void *data;
  napi_value undef;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  close_listener(data);
  napi_get_undefined(env, &undef);
  return undef;
}

static void on_close_fn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

/* Binds the socket; returns the fd, or -1 after throwing. */
static int bind_socket(napi_env env, const char *path) {
  struct sockaddr_un addr;
  size_t len = strlen(path);
  socklen_t addr_len;
  struct stat st;
  int fd, one = 1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  /* A filesystem path needs its terminating NUL inside sun_path; an abstract name does not. */
  if (len >= sizeof addr.sun_path + (path[0] == '@')) {
    throw_sys_error(env, "bind", path, ENAMETOOLONG);
    return -1;
  }
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') {
    /* Linux abstract namespace: a leading NUL, and the address is exactly as long as the name
     * (senders, like libsystemd's sd_notify, connect with that length; padding would not match). */
    addr.sun_path[0] = '\0';
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    addr_len = (socklen_t)sizeof addr;
    /* A socket left by an earlier run (a crashed init) would make bind fail with EADDRINUSE.
     * Only a socket is removed: any other file there is a mistake bind should report. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  }
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    throw_sys_error(env, "socket", path, errno);
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    int e = errno;
    close(fd);
    throw_sys_error(env, "bind", path, e);
    return -1;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    if (path[0] != '@') unlink(path);
    throw_sys_error(env, "setsockopt", path, e);
    return -1;
  }
  return fd;
}

/* listenNotify(path, onMessage) -> { close() } */
napi_value listen_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2, len = 0;
  napi_value argv[2], handle = NULL, close_fn, name;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  char *path = NULL;
  uv_loop_t *loop;
  listener_t *l;
  int fd, err;

  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 2) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[1], &t1);
  }
  if (t0 != napi_string || t1 != napi_function) {
    napi_throw_type_error(env, NULL, "listenNotify: a path (string) and an onMessage function are required");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], NULL, 0, &len);
  if (!(path = malloc(len + 1))) return throw_sys_error(env, "listenNotify", "", ENOMEM);
  napi_get_value_string_utf8(env, argv[0], path, len + 1, &len);
  if (len == 0 || strcmp(path, "@") == 0 || strlen(path) != len) {
    napi_throw_type_error(env, NULL, "listenNotify: path must be a non-empty file path or @name, without NUL");
    goto done;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "listenNotify: no libuv loop");
    goto done;
  }
  if ((fd = bind_socket(env, path)) < 0) goto done;

  err = UV_ENOMEM;
  l = calloc(1, sizeof *l);
  if (l && path[0] != '@') l->unlink_path = strdup(path);
  /* uv_poll_init fails before it registers the handle, so there is nothing to uv_close. */
  if (!l || (path[0] != '@' && !l->unlink_path) || (err = uv_poll_init(loop, &l->poll, fd)) != 0) {
    if (l) free(l->unlink_path);
    free(l);
    close(fd);
    if (path[0] != '@') unlink(path);
    throw_sys_error(env, err == UV_ENOMEM ? "listenNotify" : "uv_poll_init", path, -err);
    goto done;
  }
  l->poll.data = l;
  l->fd = fd;
  l->env = env;
  l->refs = 1; /* the handle's; the close() function takes the second below */
  napi_create_reference(env, argv[1], 1, &l->on_message);
  napi_create_object(env, &handle);
  napi_create_string_utf8(env, "PODSERVE_NOTIFY", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, handle, name, &l->async);
  if ((err = uv_poll_start(&l->poll, UV_READABLE, on_readable)) != 0) {
    close_listener(l); /* frees l once the handle is closed */
    throw_sys_error(env, "uv_poll_start", path, -err);
    handle = NULL;
    goto done;
  }
  uv_unref((uv_handle_t *)&l->poll); /* an open listener alone does not keep Node running */
  l->refs++;
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, l, &close_fn);
  napi_add_finalizer(env, close_fn, l, on_close_fn_finalized, NULL, NULL);
  napi_set_named_property(env, handle, "close", close_fn);

done:
  free(path);
  return handle;
}
