#!/usr/bin/env bash
# Installs the npm dependencies (npm ci) when node_modules is missing or older than the lock
# file, so `npm test` and `scripts/images.sh` work on a fresh clone and after a pull that
# changed dependencies. npm writes node_modules/.package-lock.json on every install.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ]; then exit 0; fi
echo "[npm-deps] installing npm dependencies (npm ci)" >&2
npm ci --no-audit --no-fund --silent >&2
