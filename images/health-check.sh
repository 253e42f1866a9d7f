#!/bin/sh
# Liveness and readiness probe for PodServe containers: what HEALTHCHECK, podman and
# Kubernetes (livenessProbe/readinessProbe/startupProbe exec) run.
#   health-check.sh [liveness|readiness] [SERVICE]     (readiness by default)
# Exit 0 with one line when healthy, 1 with the reason otherwise; never longer than 2 s.
set -eu
kind=${1:-readiness}
case "$kind" in
  liveness|readiness) ;;
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "health-check.sh: unknown probe \"$kind\"; expected liveness or readiness" >&2; exit 2 ;;
esac
# The probe only reads the status file the service publishes; the timeout is a backstop.
exec timeout 2 node /app/dist/main.js health "$kind" ${2:+"$2"}
