#!/usr/bin/env bash
# Brings the PodServe pod up and down with `podman play kube pod.yaml`, and reports on it.
set -euo pipefail
usage() {
  cat <<'USAGE'
Usage: scripts/pod.sh up [--no-build]   (re)build the images, play pod.yaml, wait until every
                                       container is ready (POD_TIMEOUT seconds, default 120)
       scripts/pod.sh down [--volumes] stop and remove the pod (and its named volumes)
       scripts/pod.sh status           each container's state and readiness
       scripts/pod.sh logs [CONTAINER] logs of one container (e.g. certificates), or of all
       scripts/pod.sh env              what ctl needs to use the pod's API from this host, for
                                       eval "$(scripts/pod.sh env)" (development tokens)
Environment: POD_YAML (default pod.yaml), POD_TIMEOUT (default 120), POD_HTTP_PORT and
POD_HTTPS_PORT (host ports for apache's 80 and 443; default 8080 and 8443), POD_DNS_PORT
(host port for DNS over UDP and TCP; default 1053, 53 to serve a real zone), POD_SMTP_PORT,
POD_SUBMISSION_PORT, POD_SUBMISSIONS_PORT, POD_IMAP_PORT, POD_IMAPS_PORT (host ports for mail's
25, 587, 465, 143 and 993; default 2525, 2587, 2465, 2143, 2993), POD_API_PORT (host port for
the API, on 127.0.0.1 only; default 9443).
USAGE
}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
yaml=${POD_YAML:-pod.yaml}
timeout_s=${POD_TIMEOUT:-120}
say() { printf '[pod] %s\n' "$*"; }
pod_name() { awk '/^kind: Pod/{p=1} p && /^  name:/{print $2; exit}' "$yaml"; }
containers() { awk '/^  containers:/{c=1; next} /^  [a-z]/{c=0} c && /^    - name:/{print $3}' "$yaml"; }
images_in_yaml() { awk '/^      image:/{print $2}' "$yaml" | sort -u; }
# Containers are named after their service, and each probe names it: the run volume is shared.
probe() { podman exec "$pod-$1" /usr/local/bin/health-check.sh readiness "$1" 2>&1; }
# podman 4.3 without systemd complains on every healthcheck timer it cannot create: noise.
# (Through a file, not a pipe: conmon inherits podman's stderr and would hold a pipe open forever.)
quiet() {
  local err status=0
  err=$(mktemp)
  "$@" 2>"$err" || status=$?
  grep -v -e 'unable to get systemd connection' -e 'failed to connect to syslog' "$err" >&2 || true
  rm -f "$err"
  return "$status"
}
secrets_in_yaml() { awk '/^kind: Secret/{s=1} s && /^  name:/{print $2; s=0}' "$yaml"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
pod=$(pod_name)
case "$cmd" in
  up)
    command -v podman >/dev/null || { echo "pod.sh: podman is not installed (run bash ../shared/podman/setup.sh)" >&2; exit 1; }
    if [ "${1:-}" != --no-build ]; then
      # Always through the build: an image that exists may hold old code (after a pull), and
      # the layer cache makes an unchanged rebuild take seconds.
      wanted=()
      for image in $(images_in_yaml); do image=${image#localhost/podserve-}; wanted+=("${image%:latest}"); done
      say "building ${wanted[*]} (cached layers are reused)"
      scripts/images.sh build "${wanted[@]}"
    fi
    if podman pod exists "$pod"; then say "pod $pod exists; replacing it"; fi
    # Host ports come from the environment: play a copy with them filled in.
    play=$yaml
    if [ -n "${POD_HTTP_PORT:-}${POD_HTTPS_PORT:-}${POD_DNS_PORT:-}${POD_SMTP_PORT:-}${POD_SUBMISSION_PORT:-}${POD_SUBMISSIONS_PORT:-}${POD_IMAP_PORT:-}${POD_IMAPS_PORT:-}${POD_API_PORT:-}" ]; then
      play=$(mktemp --suffix=.yaml)
      trap 'rm -f "$play"' EXIT
      sed -e "s/hostPort: 8080\$/hostPort: ${POD_HTTP_PORT:-8080}/" \
        -e "s/hostPort: 8443\$/hostPort: ${POD_HTTPS_PORT:-8443}/" \
        -e "s/hostPort: 1053\$/hostPort: ${POD_DNS_PORT:-1053}/" \
        -e "s/hostPort: 2525\$/hostPort: ${POD_SMTP_PORT:-2525}/" \
        -e "s/hostPort: 2587\$/hostPort: ${POD_SUBMISSION_PORT:-2587}/" \
        -e "s/hostPort: 2465\$/hostPort: ${POD_SUBMISSIONS_PORT:-2465}/" \
        -e "s/hostPort: 2143\$/hostPort: ${POD_IMAP_PORT:-2143}/" \
        -e "s/hostPort: 2993\$/hostPort: ${POD_IMAPS_PORT:-2993}/" \
        -e "s/hostPort: 9443\$/hostPort: ${POD_API_PORT:-9443}/" "$yaml" >"$play"
    fi
    say "playing $yaml (apache on host ports ${POD_HTTP_PORT:-8080} and ${POD_HTTPS_PORT:-8443}, dns on ${POD_DNS_PORT:-1053}, mail SMTP on ${POD_SMTP_PORT:-2525} and IMAPS on ${POD_IMAPS_PORT:-2993}, the API on 127.0.0.1:${POD_API_PORT:-9443})"
    quiet podman play kube --replace "$play" >/dev/null
    say "waiting up to ${timeout_s} s for every container to be ready"
    deadline=$(( $(date +%s) + timeout_s ))
    for c in $(containers); do
      until out=$(probe "$c"); do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          say "$c is not ready after ${timeout_s} s: $out"
          say "its last log lines:"; podman logs --tail 20 "$pod-$c" >&2 || true
          exit 1
        fi
        sleep 1
      done
      say "$c ready: $out"
    done
    say "pod $pod is up. The API: eval \"\$(scripts/pod.sh env)\"; node dist/main.js ctl status. Logs: scripts/pod.sh logs"
    ;;
  env)
    # The API's address, the development tokens (dev/, known to everyone: development only),
    # the pod's CA from the certificates volume, and the name its certificate carries.
    volume=$(awk '/claimName: podserve-certificates/{print $2; exit}' "$yaml")
    ca=$(podman volume inspect "$volume" --format '{{.Mountpoint}}' 2>/dev/null)/ca.pem || true
    [ -r "$ca" ] || { echo "pod.sh env: no CA in volume $volume yet: is the pod up? (scripts/pod.sh up)" >&2; exit 1; }
    domain=$(awk '/name: DOMAIN/{getline; print $2; exit}' "$yaml")
    printf 'export PODSERVE_API_URL=%q\n' "https://127.0.0.1:${POD_API_PORT:-9443}"
    printf 'export PODSERVE_API_TOKEN_FILE=%q\n' "$root/dev/api-admin.token"
    printf 'export PODSERVE_API_READ_TOKEN_FILE=%q\n' "$root/dev/api-read.token"
    printf 'export PODSERVE_CA_FILE=%q\n' "$ca"
    printf 'export PODSERVE_API_SERVERNAME=%q\n' "$domain"
    ;;
  down)
    if podman pod exists "$pod"; then
      say "stopping and removing pod $pod"
      quiet podman play kube --down "$yaml" >/dev/null
    else
      say "pod $pod is not running"
    fi
    # podman 4.3 keeps the secrets play kube created from the YAML, and a volume of the same
    # name for each secret volume: they belong to the pod, so they go with it.
    for s in $(secrets_in_yaml); do
      if podman secret inspect "$s" >/dev/null 2>&1; then podman secret rm "$s" >/dev/null && say "removed secret $s"; fi
      if podman volume exists "$s"; then podman volume rm "$s" >/dev/null; fi
    done
    if [ "${1:-}" = --volumes ]; then
      for v in $(awk '/claimName:/{print $2}' "$yaml" | sort -u); do
        if podman volume exists "$v"; then podman volume rm "$v" >/dev/null && say "removed volume $v"; fi
      done
    fi
    ;;
  status)
    podman pod exists "$pod" || { say "pod $pod is not running"; exit 1; }
    worst=0
    printf '%-16s %-10s %s\n' CONTAINER STATE READINESS
    for c in $(containers); do
      state=$(podman inspect --format '{{.State.Status}}' "$pod-$c" 2>/dev/null || echo missing)
      if out=$(probe "$c"); then ready="✅ $out"; else ready="❌ $out"; worst=1; fi
      printf '%-16s %-10s %s\n' "$c" "$state" "$ready"
    done
    exit "$worst"
    ;;
  logs)
    if [ $# -gt 0 ]; then podman logs "$pod-$1"; else for c in $(containers); do echo "== $c"; podman logs "$pod-$c" 2>&1; done; fi
    ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 64 ;;
esac
