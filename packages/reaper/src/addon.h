#ifndef PODSERVE_ADDON_H
#define PODSERVE_ADDON_H
#include <node_api.h>

/* spawn.c: uv_spawn with pipes, exit and output delivered to JS callbacks. */
napi_value spawn_child(napi_env env, napi_callback_info info);
/* notify.c: an sd_notify receiver (AF_UNIX datagram socket) delivering to a JS callback. */
napi_value listen_notify(napi_env env, napi_callback_info info);

#endif
