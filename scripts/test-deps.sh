#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, when any is missing (as root):
# unshare (util-linux) for PID-1 tests, openssl to inspect certificates, pebble as the ACME
# server, named, nsupdate, dig and delv for DNS-01 and the dns service, iproute2 for network
# namespaces (a second host), g++/make/python3 for the native reaper, curl, wrk (load during
# renewals) and testssl.sh (TLS audit) for the web service, dnsperf for npm run bench, swaks
# (an SMTP client) for the mail service.
# Podman for the end-to-end tests comes from the shared setup: bash ../shared/podman/setup.sh
set -euo pipefail
packages=(util-linux openssl pebble bind9 bind9-dnsutils iproute2 g++ make python3 curl wrk testssl.sh dnsperf swaks)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "[test-deps] apt-get install ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
