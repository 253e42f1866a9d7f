/* Spawning children straight through libuv, without node:child_process.
 *
 * Why: an init lives as long as its container, and node:child_process pulls net,
 * dgram and the whole streams stack into memory with it: measured ~2.1 MB of RSS on
 * an idle process, about half of everything the supervisor adds to a bare Node.
 * libuv (whose uv_spawn child_process uses underneath) is part of the addon ABI
 * (napi_get_uv_event_loop), so this is the same spawn, minus the JS layers.
 *
 * One child_t owns a process handle and up to three pipes. JS gets:
 *   onOutput(fd, Buffer)   a chunk from stdout (1) or stderr (2)
 *   onOutput(fd, null)     that stream ended
 *   onExit(code, signal)   after libuv has reaped it (so its pid may be forgotten)
 * The struct is freed once every handle it owns has been closed. Main thread only: a
 * Worker's loop would be closed under handles still open. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include "addon.h"

#define READ_CHUNK 65536

typedef struct {
  uv_process_t proc;
  uv_pipe_t pipes[3];
  int open_handles;
  napi_env env;
  napi_ref on_output;
  napi_ref on_child_exit;
  napi_async_context async;
  uv_write_t write_req;
  char *input;
  size_t input_len;
} child_t;

enum stdio_mode { STDIO_IGNORE, STDIO_INHERIT, STDIO_PIPE };

static void free_child(child_t *c) {
  if (c->on_output) napi_delete_reference(c->env, c->on_output);
  if (c->on_child_exit) napi_delete_reference(c->env, c->on_child_exit);
  if (c->async) napi_async_destroy(c->env, c->async);
  free(c->input);
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  child_t *c = h->data;
  if (--c->open_handles == 0) free_child(c);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
}

/* Calls a JS callback from a libuv callback. An exception there is nobody's to catch
 * but the process's: it becomes an uncaughtException, as for any other callback.
 * (During shutdown, when JS can no longer run, the call fails with nothing pending.) */
static void call_js(child_t *c, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = c->env;
  napi_value fn, recv, result, err;
  bool pending = false;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_global(env, &recv); /* napi_make_callback wants an object receiver */
  if (napi_make_callback(env, c->async, recv, fn, argc, argv, &result) != napi_ok &&
      napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_child_exit(uv_process_t *p, int64_t exit_status, int term_signal) {
  child_t *c = p->data;
  napi_handle_scope scope;
  napi_value argv[2];
  napi_open_handle_scope(c->env, &scope);
  napi_create_int64(c->env, exit_status, &argv[0]);
  napi_create_int32(c->env, term_signal, &argv[1]);
  call_js(c, c->on_child_exit, 2, argv);
  napi_close_handle_scope(c->env, scope);
  close_handle((uv_handle_t *)p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  child_t *c = s->data;
  int fd = (uv_pipe_t *)s == &c->pipes[1] ? 1 : 2;
  napi_handle_scope scope;
  napi_value argv[2];
  if (nread == 0) { /* EAGAIN: nothing this time */
    free(buf->base);
    return;
  }
  napi_open_handle_scope(c->env, &scope);
  napi_create_int32(c->env, fd, &argv[0]);
  if (nread > 0) {
    napi_create_buffer_copy(c->env, (size_t)nread, buf->base, NULL, &argv[1]);
  } else {
    napi_get_null(c->env, &argv[1]); /* EOF, or a read error: either way the stream is over */
  }
  free(buf->base);
  call_js(c, c->on_output, 2, argv);
  napi_close_handle_scope(c->env, scope);
  if (nread < 0) close_handle((uv_handle_t *)s);
}

static void on_input_written(uv_write_t *req, int status) {
  child_t *c = req->data;
  (void)status; /* EPIPE when the child exits without reading: its exit status tells the story */
  free(c->input);
  c->input = NULL;
  close_handle((uv_handle_t *)req->handle);
}

/* ---- argument parsing ---- */

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  char *s;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

static napi_value get_prop(napi_env env, napi_value obj, const char *name, napi_valuetype *type) {
  napi_value v = NULL;
  *type = napi_undefined;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_typeof(env, v, type);
  return v;
}

static char *get_string_prop(napi_env env, napi_value obj, const char *name) {
  napi_valuetype t;
  napi_value v = get_prop(env, obj, name, &t);
  return t == napi_string ? get_string(env, v) : NULL;
}

/* A NULL-terminated char* array from a JS array of strings; *ok = 0 on a non-string. */
static char **get_string_array(napi_env env, napi_value obj, const char *name, const char *first, int *ok) {
  napi_valuetype t;
  napi_value arr = get_prop(env, obj, name, &t);
  uint32_t n = 0, i, off = first ? 1 : 0;
  bool is_array = false;
  char **out;
  *ok = 0;
  if (t != napi_object || napi_is_array(env, arr, &is_array) != napi_ok || !is_array) return NULL;
  napi_get_array_length(env, arr, &n);
  out = calloc(n + off + 1, sizeof(char *));
  if (!out) return NULL;
  if (first) out[0] = strdup(first);
  for (i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, arr, i, &item);
    out[i + off] = get_string(env, item);
    if (!out[i + off]) return out; /* caller frees; *ok stays 0 */
  }
  *ok = 1;
  return out;
}

static void free_string_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

static enum stdio_mode get_stdio_mode(napi_env env, napi_value obj, const char *name) {
  char *s = get_string_prop(env, obj, name);
  enum stdio_mode m = STDIO_IGNORE;
  if (s && strcmp(s, "inherit") == 0) m = STDIO_INHERIT;
  if (s && strcmp(s, "pipe") == 0) m = STDIO_PIPE;
  free(s);
  return m;
}

static int get_id_prop(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_valuetype t;
  napi_value v = get_prop(env, obj, name, &t);
  return t == napi_number && napi_get_value_uint32(env, v, out) == napi_ok;
}

static napi_value throw_spawn_error(napi_env env, const char *file, int err) {
  char msg[512];
  napi_value error, code_v, msg_v, v;
  /* Same wording as node:child_process ("spawn sleep ENOENT"), plus libuv's explanation. */
  snprintf(msg, sizeof msg, "spawn %s %s (%s)", file, uv_err_name(err), uv_strerror(err));
  napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  snprintf(msg, sizeof msg, "spawn %s", file); /* what node:child_process puts there */
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  napi_create_string_utf8(env, file, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "path", v);
  napi_throw(env, error);
  return NULL;
}

/* spawn({ file, args, env, cwd?, uid?, gid?, detached, stdin, stdout, stderr, input?,
 *         onOutput, onExit }) -> pid. Throws (code ENOENT, EACCES, ...) when it cannot start. */
napi_value spawn_child(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts, fn, name, v, result = NULL;
  napi_valuetype t;
  uv_loop_t *loop;
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  enum stdio_mode modes[3];
  int write_ends[3] = {-1, -1, -1};
  char *file = NULL, *cwd = NULL, **args = NULL, **envp = NULL;
  int ok_args = 0, ok_env = 0, err, i;
  bool detached = false;
  child_t *c;

  napi_get_cb_info(env, info, &argc, &opts, NULL, NULL);
  if (argc < 1 || napi_typeof(env, opts, &t) != napi_ok || t != napi_object) {
    napi_throw_type_error(env, NULL, "spawn: options object required");
    return NULL;
  }
  file = get_string_prop(env, opts, "file");
  cwd = get_string_prop(env, opts, "cwd");
  args = file ? get_string_array(env, opts, "args", file, &ok_args) : NULL;
  envp = get_string_array(env, opts, "env", NULL, &ok_env);
  if (!file || !ok_args || !ok_env) {
    napi_throw_type_error(env, NULL, "spawn: file (string), args and env (arrays of strings) are required");
    goto done;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "spawn: no libuv loop");
    goto done;
  }

  c = calloc(1, sizeof *c);
  if (!c) {
    napi_throw_error(env, "ENOMEM", "spawn: out of memory");
    goto done;
  }
  c->env = env;
  v = get_prop(env, opts, "onOutput", &t);
  if (t == napi_function) napi_create_reference(env, v, 1, &c->on_output);
  fn = get_prop(env, opts, "onExit", &t);
  if (t == napi_function) napi_create_reference(env, fn, 1, &c->on_child_exit);
  if (!c->on_output || !c->on_child_exit) {
    free_child(c);
    napi_throw_type_error(env, NULL, "spawn: onOutput and onExit callbacks are required");
    goto done;
  }
  napi_create_string_utf8(env, "PODSERVE_CHILD", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, opts, name, &c->async);

  v = get_prop(env, opts, "input", &t);
  if (t == napi_object) {
    void *data;
    size_t len;
    bool is_buffer = false;
    if (napi_is_buffer(env, v, &is_buffer) == napi_ok && is_buffer &&
        napi_get_buffer_info(env, v, &data, &len) == napi_ok && len > 0) {
      c->input = malloc(len);
      if (c->input) {
        memcpy(c->input, data, len);
        c->input_len = len;
      }
    }
  }

  modes[0] = get_stdio_mode(env, opts, "stdin");
  modes[1] = get_stdio_mode(env, opts, "stdout");
  modes[2] = get_stdio_mode(env, opts, "stderr");
  for (i = 0; i < 3; i++) {
    if (modes[i] == STDIO_PIPE && i > 0) {
      /* Output goes through a real pipe, not libuv's socketpair: daemons open /dev/stdout or
       * /dev/stderr by name (apache's ErrorLog, postfix's maillog_file), and opening a socket
       * through /proc/self/fd fails with ENXIO where a pipe just works. */
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) {
        int e = errno, opened = c->open_handles;
        for (int j = 0; j < i; j++)
          if (modes[j] == STDIO_PIPE) {
            if (write_ends[j] >= 0) close(write_ends[j]);
            close_handle((uv_handle_t *)&c->pipes[j]); /* the last close frees c */
          }
        if (opened == 0) free_child(c);
        throw_spawn_error(env, file, -e);
        goto done;
      }
      uv_pipe_init(loop, &c->pipes[i], 0);
      c->pipes[i].data = c;
      c->open_handles++;
      if (uv_pipe_open(&c->pipes[i], fds[0]) != 0) close(fds[0]); /* then read sees EOF at once */
      write_ends[i] = fds[1];
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = fds[1];
    } else if (modes[i] == STDIO_PIPE) {
      uv_pipe_init(loop, &c->pipes[i], 0);
      c->pipes[i].data = c;
      c->open_handles++;
      stdio[i].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
      stdio[i].data.stream = (uv_stream_t *)&c->pipes[i];
    } else if (modes[i] == STDIO_INHERIT) {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
    } else {
      stdio[i].flags = UV_IGNORE;
    }
  }

  memset(&o, 0, sizeof o);
  o.exit_cb = on_child_exit;
  o.file = file;
  o.args = args;
  o.env = envp;
  o.cwd = cwd;
  o.stdio = stdio;
  o.stdio_count = 3;
  v = get_prop(env, opts, "detached", &t);
  if (t == napi_boolean) napi_get_value_bool(env, v, &detached);
  if (detached) o.flags |= UV_PROCESS_DETACHED; /* setsid(): its own process group */
  if (get_id_prop(env, opts, "uid", &o.uid)) o.flags |= UV_PROCESS_SETUID;
  if (get_id_prop(env, opts, "gid", &o.gid)) o.flags |= UV_PROCESS_SETGID;

  c->proc.data = c;
  c->open_handles++; /* uv_spawn initialises the process handle even when it fails */
  err = uv_spawn(loop, &c->proc, &o);
  /* The child has its copies of the write ends (or never will): ours would keep EOF away. */
  for (i = 1; i < 3; i++)
    if (modes[i] == STDIO_PIPE) close(write_ends[i]);
  if (err != 0) {
    for (i = 0; i < 3; i++)
      if (modes[i] == STDIO_PIPE) close_handle((uv_handle_t *)&c->pipes[i]);
    close_handle((uv_handle_t *)&c->proc);
    throw_spawn_error(env, file, err);
    goto done;
  }
  for (i = 1; i < 3; i++)
    if (modes[i] == STDIO_PIPE) uv_read_start((uv_stream_t *)&c->pipes[i], on_alloc, on_read);
  if (modes[0] == STDIO_PIPE) {
    if (c->input_len > 0) {
      uv_buf_t buf = uv_buf_init(c->input, (unsigned int)c->input_len);
      c->write_req.data = c;
      if (uv_write(&c->write_req, (uv_stream_t *)&c->pipes[0], &buf, 1, on_input_written) != 0)
        close_handle((uv_handle_t *)&c->pipes[0]);
    } else {
      close_handle((uv_handle_t *)&c->pipes[0]); /* an empty input is an immediate EOF */
    }
  }
  napi_create_int32(env, c->proc.pid, &result);

done:
  free(file);
  free(cwd);
  free_string_array(args);
  free_string_array(envp);
  return result;
}
