#!/usr/bin/env bash
# Builds PodServe's container images with podman: the base image, then each service image.
set -euo pipefail
usage() {
  cat <<'USAGE'
Usage: scripts/images.sh build [SERVICE...]   build localhost/podserve-base and the named service
                                              images (all of them when none is named)
       scripts/images.sh list                 list the services that have a Containerfile
Environment:
  DIAGNOSTICS=false   build the base image without the diagnostic tools (procps, strace, …)
  SKIP_BUNDLE=1       reuse dist/ as it is instead of running npm run build first
The bundle is built on the host: inside a container build only Debian's mirror is reachable.
USAGE
}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[images] %s\n' "$*"; }
services() { for f in images/*/Containerfile; do d=${f%/Containerfile}; d=${d#images/}; [ "$d" = base ] || echo "$d"; done; }

build_one() {
  local name=$1 file=$2 started
  shift 2
  started=$(date +%s.%N)
  say "building localhost/podserve-$name:latest from $file"
  podman build --quiet --layers --format docker "$@" \
    --build-arg "DIAGNOSTICS=${DIAGNOSTICS:-true}" --build-arg "VERSION=$version" \
    -f "$file" -t "localhost/podserve-$name:latest" . >/dev/null
  say "built localhost/podserve-$name:latest in $(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s"
}

cmd=${1:-}
case "$cmd" in
  build)
    shift
    command -v podman >/dev/null || { echo "images.sh: podman is not installed (run bash ../shared/podman/setup.sh)" >&2; exit 1; }
    wanted=()
    for s in "$@"; do [ "$s" = base ] || wanted+=("$s"); done # base is always built first
    [ $# -gt 0 ] || mapfile -t wanted < <(services)
    for s in "${wanted[@]+"${wanted[@]}"}"; do
      [ -f "images/$s/Containerfile" ] || { echo "images.sh: no image for \"$s\"; known: $(services | tr '\n' ' ')" >&2; exit 64; }
    done
    version=$(node -p "require('./package.json').version")
    if [ "${SKIP_BUNDLE:-}" != 1 ]; then
      bash scripts/npm-deps.sh
      say "bundling dist/ (npm run build)"
      npm run build --silent >/dev/null
    fi
    [ -f dist/main.js ] || { echo "images.sh: dist/main.js is missing; run npm run build" >&2; exit 1; }
    build_one os images/base/Containerfile --target os
    build_one base images/base/Containerfile
    for s in "${wanted[@]+"${wanted[@]}"}"; do build_one "$s" "images/$s/Containerfile"; done
    ;;
  list) services ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 64 ;;
esac
