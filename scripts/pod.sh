#!/usr/bin/env bash
# Brings the PodServe pod up and down with `podman play kube pod.yaml`, and reports on it.
set -euo pipefail
usage() {
  cat <<'USAGE'
Usage: scripts/pod.sh up [--no-build]   (re)build the images, play pod.yaml, wait until every
                                       container is ready (POD_TIMEOUT seconds, default 120),
                                       then print where each service answers
       scripts/pod.sh up --dev         a development pod: the images as they are (built once if
                                       missing), the repository mounted read-only at /app (so
                                       /app/dist is this checkout's dist/), LOG_LEVEL=debug;
                                       after `npm run build`, `podman restart POD-CONTAINER`
                                       (e.g. podserve-api) runs the new code
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
env_in_yaml() { awk -v n="$1" '$0 ~ "name: " n "$" {getline; print $2; exit}' "$yaml"; }
state_of() { podman inspect --format '{{.State.Status}}' "$pod-$1" 2>/dev/null || echo missing; }
# Host ports: the environment's, else pod.yaml's defaults.
http_port=${POD_HTTP_PORT:-8080} https_port=${POD_HTTPS_PORT:-8443} dns_port=${POD_DNS_PORT:-1053}
smtp_port=${POD_SMTP_PORT:-2525} submission_port=${POD_SUBMISSION_PORT:-2587}
submissions_port=${POD_SUBMISSIONS_PORT:-2465} imap_port=${POD_IMAP_PORT:-2143}
imaps_port=${POD_IMAPS_PORT:-2993} api_port=${POD_API_PORT:-9443}
certificates_volume() { awk '/claimName: podserve-certificates/{print $2; exit}' "$yaml"; }

# One build at a time on this host: two builds of the same tags would race for them.
build_images() {
  if command -v flock >/dev/null; then
    flock /tmp/podserve-images.lock scripts/images.sh build "$@"
  else
    scripts/images.sh build "$@"
  fi
}

# podman 4.3 plays an emptyDir as a *named* volume called after it (run-dns, …): it outlives
# the pod (a stale status file and socket greet the next start) and is shared with every other
# pod played from pod.yaml on this host (a test's pod: "another process answers on
# /run/podserve/dns.sock"). The played copy names them after the pod; down removes them.
emptydirs_in_yaml() { awk '/^    - name:/{n=$3} /^      emptyDir:/{print n}' "$yaml"; }
own_run_volumes() {
  local v
  for v in $(emptydirs_in_yaml); do sed -i -e "s/^\( *- name: \)$v\$/\1$pod-$v/" "$1"; done
}

# The development pod, from a played copy of pod.yaml ($1, changed in place): every container
# mounts this checkout read-only at /app (the images' WORKDIR, so /app/dist is this checkout's
# dist/ and the entrypoint runs it) and logs at debug. The checkout, not dist/ itself: npm run
# build removes dist/ and makes a new one, and a bind mount of the old directory would show the
# running containers an empty, deleted directory (their probes would fail until restarted).
# Nothing in the pod writes to the host: state, certificates and logs stay in the named volumes.
dev_yaml() {
  local out
  out=$(mktemp --suffix=.yaml)
  awk -v root="$root" '
    /^      volumeMounts:$/ { print; print "        - name: dev-checkout"; print "          mountPath: /app"; print "          readOnly: true"; next }
    /^  volumes:$/ { print; print "    - name: dev-checkout"; print "      hostPath:"; print "        path: " root; print "        type: Directory"; next }
    /^        - name: LOG_LEVEL$/ { print; getline; sub(/value: .*/, "value: debug"); print; next }
    { print }' "$1" >"$out"
  mv "$out" "$1"
}

# Where each service answers from this host, once the pod is up.
where() {
  local domain ca
  domain=$(env_in_yaml DOMAIN)
  ca=$(podman volume inspect "$(certificates_volume)" --format '{{.Mountpoint}}' 2>/dev/null)/ca.pem || true
  printf '  web   http://%s:%s/ and https://%s:%s/ (the name is not in DNS: curl --cacert CA --resolve %s:%s:127.0.0.1 https://%s:%s/)\n' \
    "$domain" "$http_port" "$domain" "$https_port" "$domain" "$https_port" "$domain" "$https_port"
  printf '  dns   127.0.0.1 port %s, UDP and TCP: dig @127.0.0.1 -p %s %s\n' "$dns_port" "$dns_port" "$domain"
  printf '  mail  127.0.0.1: SMTP %s, submission %s, submissions %s, IMAP %s, IMAPS %s (first user %s, its password from pod.yaml'"'"'s Secret)\n' \
    "$smtp_port" "$submission_port" "$submissions_port" "$imap_port" "$imaps_port" "$(env_in_yaml MAIL_ADMIN_ADDRESS)"
  printf '  api   https://127.0.0.1:%s (certificate for %s); admin token %s, read-only token %s\n' \
    "$api_port" "$domain" "$root/dev/api-admin.token" "$root/dev/api-read.token"
  printf '  ca    %s\n' "$ca"
  # shellcheck disable=SC2016 # printed for the user's shell
  printf '  ctl   eval "$(scripts/pod.sh env)"; node dist/main.js ctl status\n'
  printf '  more  scripts/pod.sh status | logs [CONTAINER] | down [--volumes]\n'
}

cmd=${1:-}
[ $# -gt 0 ] && shift
pod=$(pod_name)
case "$cmd" in
  up)
    command -v podman >/dev/null || { echo "pod.sh: podman is not installed (run bash ../shared/podman/setup.sh)" >&2; exit 1; }
    build=1 dev=0
    for arg in "$@"; do
      case "$arg" in
        --no-build) build=0 ;;
        --dev) dev=1 ;;
        *) usage >&2; exit 64 ;;
      esac
    done
    wanted=()
    for image in $(images_in_yaml); do image=${image#localhost/podserve-}; wanted+=("${image%:latest}"); done
    if [ "$dev" = 1 ]; then
      # The dev pod runs this checkout's dist/: the images only provide the OS and daemons, so
      # they are built only when one is missing (a rebuild would gain nothing).
      missing=()
      for image in $(images_in_yaml); do podman image exists "$image" || missing+=("$image"); done
      if [ "$build" = 1 ] && [ ${#missing[@]} -gt 0 ]; then
        say "dev: missing ${missing[*]}: building the images once"
        build_images "${wanted[@]}"
      elif [ ${#missing[@]} -gt 0 ]; then
        echo "pod.sh: missing ${missing[*]} (scripts/pod.sh up --dev builds them)" >&2; exit 1
      else
        say "dev: using the existing images (no build); the code comes from $root/dist"
      fi
      if [ ! -f dist/main.js ]; then
        say "dev: no dist/main.js: bundling it (npm run build)"
        bash scripts/npm-deps.sh
        npm run build --silent >/dev/null
      fi
    elif [ "$build" = 1 ]; then
      # Always through the build: an image that exists may hold old code (after a pull), and
      # the layer cache makes an unchanged rebuild take seconds.
      say "building ${wanted[*]} (cached layers are reused)"
      build_images "${wanted[@]}"
    fi
    if podman pod exists "$pod"; then say "pod $pod exists; replacing it"; fi
    # A temporary copy of the YAML is played (pod.yaml itself never changes): host ports from
    # the environment, run volumes of the pod's own (pod_yaml), the dev pod's mounts (dev_yaml).
    play=$(mktemp --suffix=.yaml)
    trap 'rm -f "$play"' EXIT
    sed -e "s/hostPort: 8080\$/hostPort: $http_port/" \
      -e "s/hostPort: 8443\$/hostPort: $https_port/" \
      -e "s/hostPort: 1053\$/hostPort: $dns_port/" \
      -e "s/hostPort: 2525\$/hostPort: $smtp_port/" \
      -e "s/hostPort: 2587\$/hostPort: $submission_port/" \
      -e "s/hostPort: 2465\$/hostPort: $submissions_port/" \
      -e "s/hostPort: 2143\$/hostPort: $imap_port/" \
      -e "s/hostPort: 2993\$/hostPort: $imaps_port/" \
      -e "s/hostPort: 9443\$/hostPort: $api_port/" "$yaml" >"$play"
    own_run_volumes "$play"
    if [ "$dev" = 1 ]; then dev_yaml "$play"; fi
    say "playing $yaml$([ "$dev" = 1 ] && echo " as a development pod (this checkout at /app read-only, LOG_LEVEL=debug)") (apache on host ports $http_port and $https_port, dns on $dns_port, mail SMTP on $smtp_port and IMAPS on $imaps_port, the API on 127.0.0.1:$api_port)"
    # A pod played before goes first, with its run directories: their status files (a heartbeat
    # seconds old) would answer the readiness loop below before the new runtimes write their own.
    if podman pod exists "$pod"; then quiet podman pod rm -f -t 15 "$pod" >/dev/null; fi
    for v in $(emptydirs_in_yaml); do
      if podman volume exists "$pod-$v"; then podman volume rm -f "$pod-$v" >/dev/null; fi
    done
    quiet podman play kube --replace "$play" >/dev/null
    say "waiting up to ${timeout_s} s for every container to be ready"
    started=$(date +%s)
    deadline=$(( started + timeout_s ))
    next_report=$(( started + 5 ))
    pending=$(containers)
    declare -A why=()
    while [ -n "$pending" ]; do
      still=""
      for c in $pending; do
        status=0
        out=$(probe "$c") || status=$?
        if [ "$status" = 0 ]; then
          say "$c ready: $out"
        else
          still="$still $c"
          why[$c]=$(printf "%s" "${out:-no answer (probe exit $status$([ "$status" = 124 ] && echo ": timed out"))}" | tr "\n" " " | cut -c1-120)
        fi
      done
      pending=${still# }
      [ -n "$pending" ] || break
      now=$(date +%s)
      if [ "$now" -ge "$deadline" ]; then
        for c in $pending; do
          say "$c is not ready after ${timeout_s} s: ${why[$c]}"
          say "its last log lines:"; podman logs --tail 20 "$pod-$c" >&2 || true
        done
        exit 1
      fi
      if [ "$now" -ge "$next_report" ]; then
        say "$(( now - started )) s, still starting: $(for c in $pending; do printf '%s (%s: %s); ' "$c" "$(state_of "$c")" "${why[$c]}"; done | sed 's/; $//')"
        next_report=$(( now + 5 ))
      fi
      sleep 1
    done
    say "pod $pod is up$([ "$dev" = 1 ] && echo " (development: code from $root/dist; after npm run build: podman restart $pod-CONTAINER)") in $(( $(date +%s) - started )) s:"
    where
    ;;
  env)
    # The API's address, the development tokens (dev/, known to everyone: development only),
    # the pod's CA from the certificates volume, and the name its certificate carries.
    volume=$(certificates_volume)
    ca=$(podman volume inspect "$volume" --format '{{.Mountpoint}}' 2>/dev/null)/ca.pem || true
    [ -r "$ca" ] || { echo "pod.sh env: no CA in volume $volume yet: is the pod up? (scripts/pod.sh up)" >&2; exit 1; }
    domain=$(env_in_yaml DOMAIN)
    printf 'export PODSERVE_API_URL=%q\n' "https://127.0.0.1:$api_port"
    printf 'export PODSERVE_API_TOKEN_FILE=%q\n' "$root/dev/api-admin.token"
    printf 'export PODSERVE_API_READ_TOKEN_FILE=%q\n' "$root/dev/api-read.token"
    printf 'export PODSERVE_CA_FILE=%q\n' "$ca"
    printf 'export PODSERVE_API_SERVERNAME=%q\n' "$domain"
    ;;
  down)
    if podman pod exists "$pod"; then
      say "stopping and removing pod $pod"
      # The same names as up played (its run volumes): pod.yaml's own names may be another pod's.
      play=$(mktemp --suffix=.yaml)
      trap 'rm -f "$play"' EXIT
      cp "$yaml" "$play"
      own_run_volumes "$play"
      # Should --down fail, the pod goes all the same, so the secrets and volumes below can too.
      quiet podman play kube --down "$play" >/dev/null || quiet podman pod rm -f "$pod" >/dev/null || true
    else
      say "pod $pod is not running"
    fi
    # podman 4.3 keeps the secrets play kube created from the YAML, and a volume of the same
    # name for each secret volume: they belong to the pod, so they go with it.
    for s in $(secrets_in_yaml); do
      if podman secret inspect "$s" >/dev/null 2>&1; then podman secret rm "$s" >/dev/null && say "removed secret $s"; fi
      if podman volume exists "$s"; then podman volume rm "$s" >/dev/null; fi
    done
    for v in $(emptydirs_in_yaml); do
      if podman volume exists "$pod-$v"; then podman volume rm "$pod-$v" >/dev/null; fi
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
