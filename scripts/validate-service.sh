#!/usr/bin/env bash
# Validates one service's image the way the seeds' development guide prescribes, and prints
# a baseline table (target vs measured) that the README keeps for each service.
set -euo pipefail
usage() {
  cat <<'USAGE'
Usage: scripts/validate-service.sh SERVICE [isolation|performance|integration|all]
  isolation     starts 5/5 times, health passes, stops on SIGTERM within 10 s, logs a clean start
  performance   start-up time to readiness over 5 runs, memory (RSS of the container's
                processes), probe latency inside the container
  integration   the pod with its consumers: every container ready, consumers see a renewal
Builds the images first (scripts/images.sh, under the lock /tmp/podserve-images.lock that other
builders on this machine take too); SKIP_BUILD=1 uses the images as they are. Containers,
volumes and files it makes are removed by id.
USAGE
}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
service=${1:-}
phase=${2:-all}
case "$service" in ""|-h|--help) usage; [ -n "$service" ] && exit 0 || exit 64 ;; esac
case "$phase" in isolation|performance|integration|all) ;; *) usage >&2; exit 64 ;; esac
[ -f "images/$service/Containerfile" ] || { echo "validate-service.sh: no image for \"$service\"" >&2; exit 64; }
image="localhost/podserve-$service:latest"
runs=5
say() { printf '[validate %s] %s\n' "$service" "$*"; }
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 |"); }
mark() { if [ "$1" = 1 ]; then echo ✅; else echo ❌; fi; }
now_ms() { date +%s%3N; }
ids=()
volumes=()
files=()
cleanup() {
  for id in "${ids[@]}"; do podman rm -f -v -t 0 "$id" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  for f in "${files[@]}"; do rm -rf "$f"; done
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-}" = 1 ]; then
  say "using the images as they are (SKIP_BUILD=1)"
  for s in certificates apache dns mail api; do
    podman image exists "localhost/podserve-$s:latest" || { echo "validate-service.sh: localhost/podserve-$s:latest is missing: build it (scripts/images.sh build)" >&2; exit 1; }
  done
else
  say "building images"
  # All of them (the integration phase plays the whole pod), one builder at a time on this machine.
  if command -v flock >/dev/null; then
    flock /tmp/podserve-images.lock scripts/images.sh build >/dev/null
  else
    scripts/images.sh build >/dev/null
  fi
fi

# Service-specific environment; a consumer of the certificates volume gets one filled first.
service_env=()
# Targets: one daemon each for apache and dns; mail runs three (postfix's and dovecot's masters
# with their helpers, opendkim) and makes its queue and DKIM key on a fresh volume.
startup_target=5000
memory_target=128
case "$service" in
  certificates) service_env=(-e DOMAIN=example.test) ;;
  apache)
    vol="podserve-validate-certs-$$"; volumes+=("$vol")
    podman volume create "$vol" >/dev/null
    podman run --rm -e DOMAIN=example.test -v "$vol:/data/state/certificates" \
      localhost/podserve-certificates:latest certificates --mode init >/dev/null 2>&1
    service_env=(-e DOMAIN=example.test -v "$vol:/data/state/certificates:ro") ;;
  # Recursion goes to a dead loopback port: validating sends nothing off this machine.
  dns) service_env=(-e DOMAIN=example.test -e 'DNS_FORWARDERS=127.0.0.1#9') ;;
  mail)
    vol="podserve-validate-certs-$$"; volumes+=("$vol")
    podman volume create "$vol" >/dev/null
    podman run --rm -e DOMAIN=example.test -e CERT_SANS=mail.example.test -v "$vol:/data/state/certificates" \
      localhost/podserve-certificates:latest certificates --mode init >/dev/null 2>&1
    service_env=(-e DOMAIN=example.test -v "$vol:/data/state/certificates:ro")
    startup_target=10000
    memory_target=256 ;;
  # The API alone: its certificate from a filled volume, a token file of its own (made here,
  # like the pod's Secret), and no service run directories mounted (it serves an empty pod).
  api)
    vol="podserve-validate-certs-$$"; volumes+=("$vol")
    podman volume create "$vol" >/dev/null
    podman run --rm -e DOMAIN=example.test -v "$vol:/data/state/certificates" \
      localhost/podserve-certificates:latest certificates --mode init >/dev/null 2>&1
    secrets=$(mktemp -d); files+=("$secrets")
    node dist/main.js api-token validate read --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).line + "\n")' >"$secrets/api-tokens"
    chmod 755 "$secrets"; chmod 644 "$secrets/api-tokens"
    service_env=(-e DOMAIN=example.test -e API_TOKENS_FILE=/run/secrets/podserve/api-tokens
      -v "$vol:/data/state/certificates:ro" -v "$secrets:/run/secrets/podserve:ro") ;;
esac

# Called as id=$(start), i.e. in a subshell: the caller records the id for cleanup.
start() { podman run -d "${service_env[@]}" "$image" "$service" 2>/dev/null; }
ready() { podman exec "$1" /usr/local/bin/health-check.sh readiness >/dev/null 2>&1; }
wait_ready() { # id timeout_s → prints ms to ready, or fails
  local id=$1 t0 deadline; t0=$(now_ms); deadline=$(( t0 + $2 * 1000 ))
  until ready "$id"; do [ "$(now_ms)" -lt "$deadline" ] || return 1; sleep 0.1; done
  echo $(( $(now_ms) - t0 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "$phase" = isolation ] || [ "$phase" = all ]; then
  say "isolation: $runs starts"
  started=0; healthy=0; stops=(); clean=1
  for i in $(seq "$runs"); do
    if ! id=$(start) || [ -z "$id" ]; then clean=0; continue; fi
    started=$((started + 1)); ids+=("$id")
    if wait_ready "$id" 60 >/dev/null; then healthy=$((healthy + 1)); fi
    t0=$(now_ms); podman stop -t 10 "$id" >/dev/null 2>&1; stops+=($(( $(now_ms) - t0 )))
    code=$(podman inspect --format '{{.State.ExitCode}}' "$id")
    logs=$(podman logs "$id" 2>&1)
    if [ "$code" != 0 ] || grep -q '"level":"\(error\|fatal\)"' <<<"$logs" || ! grep -q "\"msg\":\"$service ready\"" <<<"$logs"; then clean=0; fi
  done
  slowest=$(printf '%s\n' "${stops[@]}" | sort -n | tail -1)
  row "starts" "$runs/$runs" "$started/$runs" "$(mark $(( started == runs )))"
  row "health passes" "$runs/$runs" "$healthy/$runs" "$(mark $(( healthy == runs )))"
  row "SIGTERM → stopped (slowest of $runs)" "< 10 s" "${slowest} ms" "$(mark $(( slowest < 10000 )))"
  row "clean start and stop in logs (exit 0, no error lines)" "yes" "$([ $clean = 1 ] && echo yes || echo no)" "$(mark $clean)"
fi

if [ "$phase" = performance ] || [ "$phase" = all ]; then
  say "performance: start-up, memory, probe latency"
  times=(); id=
  for i in $(seq "$runs"); do
    t0=$(now_ms)
    if ! id=$(start) || [ -z "$id" ]; then continue; fi
    ids+=("$id")
    if wait_ready "$id" 60 >/dev/null; then times+=($(( $(now_ms) - t0 ))); fi
    [ "$i" = "$runs" ] || podman rm -f -v -t 0 "$id" >/dev/null 2>&1
  done
  if [ ${#times[@]} -gt 0 ]; then startup=$(printf '%s\n' "${times[@]}" | median); else startup=999999; fi
  sleep 5 # let the last one settle before measuring memory
  rss=$(podman exec "$id" sh -c 'for s in /proc/[0-9]*/status; do case $s in /proc/$$/*) continue;; esac; awk "/^VmRSS/{print \$2}" $s; done 2>/dev/null' | awk '{s+=$1} END {printf "%.1f", s/1024}' || echo 0)
  timed11() { podman exec "${id:-none}" sh -c "for i in 1 2 3 4 5 6 7 8 9 10 11; do t0=\$(date +%s%N); $1 >/dev/null 2>&1; echo \$(( (\$(date +%s%N) - t0) / 1000000 )); done" | median || true; }
  probe=$(timed11 /usr/local/bin/health-check.sh)
  # Debian's Node alone takes ~100 ms to start in a container: the probe is judged on what it adds.
  node_start=$(timed11 'node -e 0')
  row "start-up to readiness (median of $runs, incl. podman run)" "< $startup_target ms" "$([ ${#times[@]} -gt 0 ] && echo "${startup} ms (${#times[@]}/$runs ready)" || echo "never ready")" "$(mark $(( startup < startup_target && ${#times[@]} == runs )))"
  row "memory: RSS of the container's processes" "< $memory_target MB" "${rss} MB" "$(mark $(awk "BEGIN{print ($rss < $memory_target)}"))"
  row "health-check.sh readiness inside the container (median)" "≤ Node start + 25 ms" "${probe:-?} ms (\`node -e 0\`: ${node_start:-?} ms)" "$(mark $(( ${probe:-999999} <= ${node_start:-0} + 25 )))"
fi

if [ "$phase" = integration ] || [ "$phase" = all ]; then
  say "integration: the pod with its consumers"
  yaml=$(mktemp --suffix=.yaml); suffix="validate-$$"
  # No recursion in the validation pod: a resolver primes from the root servers, off this machine.
  sed -e "s/^  name: podserve$/  name: podserve-$suffix/" -e "s/podserve-secrets/podserve-secrets-$suffix/g" \
      -e "s/claimName: \(podserve-[a-z]*\)/claimName: \1-$suffix/" \
      -e 's|value: "127.0.0.0/8, ::1"|value: none|' \
      -e "s/name: \(run-[a-z]*\)\$/name: \1-$suffix/" pod.yaml > "$yaml"
  # podman 4.3 makes each emptyDir a named volume called after it (run-api), shared by every pod
  # played on this host from a copy of pod.yaml: renamed above, so this pod's are its own.
  run_volumes=$(awk '/^    - name: run-/{print $3}' "$yaml")
  pod="podserve-$suffix"
  t0=$(now_ms)
  ok=1
  # Host ports of its own, so a pod already running here is not disturbed.
  dns_port=$(shuf -i 40000-49999 -n 1)
  mail_base=$(shuf -i 50000-59990 -n 1)
  https_port=$(shuf -i 30000-39999 -n 1)
  api_port=$(shuf -i 10000-19999 -n 1)
  POD_HTTP_PORT=$(shuf -i 20000-29999 -n 1) POD_HTTPS_PORT=$https_port POD_DNS_PORT=$dns_port POD_API_PORT=$api_port \
    POD_SMTP_PORT=$mail_base POD_SUBMISSION_PORT=$((mail_base + 1)) POD_SUBMISSIONS_PORT=$((mail_base + 2)) \
    POD_IMAP_PORT=$((mail_base + 3)) POD_IMAPS_PORT=$((mail_base + 4)) \
    POD_YAML=$yaml POD_TIMEOUT=90 scripts/pod.sh up --no-build >/dev/null 2>&1 || ok=0
  up_ms=$(( $(now_ms) - t0 ))
  row "pod up, every container ready" "< 90 s" "$([ $ok = 1 ] && echo "${up_ms} ms" || echo failed)" "$(mark $ok)"
  if [ $ok = 1 ]; then
    podman exec "$pod-certificates" touch /data/state/certificates/renew-now
    seen=0
    for _ in $(seq 60); do
      if podman logs "$pod-apache" 2>&1 | grep -q 'serving certificate generation .* (confirmed by a TLS handshake)' &&
        [ "$(podman logs "$pod-apache" 2>&1 | grep -c 'serving certificate generation')" -ge 2 ]; then seen=1; break; fi
      sleep 0.5
    done
    row "apache (read-only mount) serves a forced renewal" "yes" "$([ $seen = 1 ] && echo yes || echo no)" "$(mark $seen)"
    aa=0; dig @127.0.0.1 -p "$dns_port" +norec +time=2 podserve.test SOA 2>/dev/null | grep -q 'flags: qr aa' && aa=1
    row "dns answers the pod's zone authoritatively on POD_DNS_PORT" "yes" "$([ $aa = 1 ] && echo yes || echo no)" "$(mark $aa)"
    key=0; podman exec "$pod-certificates" test -r /data/state/dns/tsig/acme-update.secret && key=1
    row "the certificates container can read the dns TSIG key" "yes" "$([ $key = 1 ] && echo yes || echo no)" "$(mark $key)"
    if [ "$service" = mail ]; then
      mail_seen=0
      for _ in $(seq 60); do
        [ "$(podman logs "$pod-mail" 2>&1 | grep -c 'serving certificate generation .* by postfix and dovecot')" -ge 2 ] && { mail_seen=1; break; }
        sleep 0.5
      done
      row "mail: postfix and dovecot serve the forced renewal" "yes" "$([ $mail_seen = 1 ] && echo yes || echo no)" "$(mark $mail_seen)"
      dkim=0
      for _ in $(seq 60); do
        dig @127.0.0.1 -p "$dns_port" +short TXT mail._domainkey.podserve.test 2>/dev/null | grep -q 'v=DKIM1' && { dkim=1; break; }
        sleep 0.5
      done
      row "mail: its DKIM record is in the pod's zone (RFC 2136)" "yes" "$([ $dkim = 1 ] && echo yes || echo no)" "$(mark $dkim)"
      relay=0
      # Into a variable first: with pipefail, grep -q ending the pipe early would fail it.
      said=$(swaks --server "127.0.0.1:$mail_base" --timeout 10 --from x@outside.test --to victim@elsewhere.test 2>&1 || true)
      grep -q '554 5.7.1 .*Relay access denied' <<<"$said" && relay=1
      row "mail: no relay for an unauthenticated client on 25" "554 Relay access denied" "$([ $relay = 1 ] && echo yes || echo no)" "$(mark $relay)"
    fi
    if [ "$service" = api ]; then
      # From the host, as scripts/pod.sh env sets ctl up: the pod's CA, the development tokens.
      ca="$(podman volume inspect "podserve-certificates-$suffix" --format '{{.Mountpoint}}')/ca.pem"
      api_get() { # TOKEN-FILE (or "") PATH → the body, then the HTTP status on a line of its own
        local auth=()
        [ -z "$1" ] || auth=(-H "Authorization: Bearer $(cat "$1")")
        curl -s --max-time 10 --cacert "$ca" --resolve "podserve.test:$api_port:127.0.0.1" \
          "${auth[@]}" -w '\n%{http_code}' "https://podserve.test:$api_port$2" || true
      }
      all_ready=0
      for _ in $(seq 60); do
        answer=$(api_get dev/api-read.token /api/v1/status)
        if [ "$(tail -1 <<<"$answer")" = 200 ] && sed '$d' <<<"$answer" | node -e '
          const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
          const names = s.services.map((x) => x.service).sort().join(",");
          process.exit(s.ready && names === "apache,api,certificates,dns,mail" ? 0 : 1);' 2>/dev/null; then all_ready=1; break; fi
        sleep 0.5
      done
      row "api: GET /api/v1/status over HTTPS (read token, the pod's CA) lists all 5 services ready" "yes" "$([ $all_ready = 1 ] && echo yes || echo no)" "$(mark $all_ready)"
      anonymous=$(api_get "" /api/v1/status | tail -1)
      row "api: no token → 401" "401" "$anonymous" "$(mark $([ "$anonymous" = 401 ] && echo 1 || echo 0))"
      fingerprint() { echo | openssl s_client -connect "127.0.0.1:$1" -servername podserve.test 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null; }
      api_seen=0
      for _ in $(seq 40); do
        web=$(fingerprint "$https_port"); own=$(fingerprint "$api_port")
        [ -n "$own" ] && [ "$own" = "$web" ] && { api_seen=1; break; }
        sleep 0.5
      done
      row "api serves the forced renewal (apache's new certificate, by a TLS handshake)" "yes" "$([ $api_seen = 1 ] && echo yes || echo no)" "$(mark $api_seen)"
    fi
  fi
  POD_YAML=$yaml scripts/pod.sh down --volumes >/dev/null 2>&1 || true
  for v in $run_volumes; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  rm -f "$yaml"
fi

echo
echo "Baseline for $service ($(date -u +%Y-%m-%d), $(nproc) cores, podman $(podman --version | awk '{print $3}')):"
echo
echo "| check | target | measured | |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
printf '%s\n' "${rows[@]}" | grep -q '❌' && exit 1 || exit 0
