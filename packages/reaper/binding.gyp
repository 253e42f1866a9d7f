{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["src/reaper.c", "src/spawn.c", "src/notify.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "podserve-setuid",
      "type": "executable",
      "sources": ["src/setuid.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
