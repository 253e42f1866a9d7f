{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["src/reaper.c", "src/spawn.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
