import { exitCodeTable } from '@podserve/runtime/exit-codes';
import { services } from './services.js';

export function mainUsage(): string {
  const width = Math.max(6, ...services.map((s) => s.name.length));
  const serviceLines = services.length
    ? services.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`).join('\n')
    : '  (none in this build)';
  return `PodServe: in-container service supervisor.

Usage:
  node dist/main.js <service> [--mode MODE] [--dry-run [--output DIR]] [--help]
  node dist/main.js exec [--restart=never|on-failure|always] [--output=raw|log] [--name NAME] -- CMD [ARGS...]
  node dist/main.js health [liveness|readiness] [SERVICE]
  node dist/main.js ctl [--socket PATH | --service NAME] [--json] status|start|stop|restart|reload|logs|ACTION
  node dist/main.js --help | --version

Services:
${serviceLines}

Commands:
  ${'exec'.padEnd(width)}  supervise any command as init (signals forwarded, zombies reaped,
  ${''.padEnd(width)}  restart policy, exit code passed on); default --restart=never
  ${'health'.padEnd(width)}  probe a running service: exit 0 and one line when ok, 1 otherwise
  ${''.padEnd(width)}  (readiness by default; every published service when none is named)
  ${'ctl'.padEnd(width)}  command a running service: status, start/stop/restart a process,
  ${''.padEnd(width)}  reload, logs [-f], and the service's own actions (ctl --help)

"node dist/main.js <service> --help" lists the service's modes and environment variables.

Exit codes:
${exitCodeTable.map((e) => `  ${(e.code === 128 ? '128+N' : String(e.code)).padEnd(5)}  ${e.meaning}`).join('\n')}
`;
}

export function execUsage(): string {
  return `exec: supervise any command as init: signals forwarded, zombies reaped, restart policy,
the command's exit code passed on.

Usage: node dist/main.js exec [--restart=never|on-failure|always] [--output=raw|log] [--name NAME] -- CMD [ARGS...]

Options:
  --restart=POLICY  never (default): exit with the command; on-failure / always: restart it with
                    backoff; after a crash loop (5 quick failures) exec exits 75
  --output=MODE     raw (default): the command owns stdout/stderr/stdin; log: each line becomes a
                    JSON log record tagged with its name
  --name NAME       the process name in logs and status (default: the command's basename)

Environment:
  EXEC_STOP_TIMEOUT (duration; default 8s)
      After the stop signal, how long the command and what it left in its process group get
      before SIGKILL. The same happens when the command exits on its own and leaves processes
      behind.

Signals: SIGTERM, SIGINT and SIGQUIT stop the command with the same signal (a second one is passed
on too); SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH are forwarded.
Exit code: the command's own; 128+N when signal N ended it; 127 when it cannot be started;
75 after a crash loop; 64 for a bad command line.
`;
}

export function healthUsage(): string {
  return `health: probe a running service through the status it publishes (fast; never hangs).

Usage: node dist/main.js health [liveness|readiness] [SERVICE]

  liveness    alive: the runtime's event loop turns and no critical process has failed
  readiness   ready to serve (the default)
  SERVICE     the service to probe; every service with a status in PODSERVE_RUN_DIR when omitted

Environment:
  PODSERVE_RUN_DIR (path; default /run/podserve)
      Where running services publish their status.

Exit code: 0 and one line on stdout when every probed service passes; 1 and the reason on stderr
otherwise; 64 for a bad command line.
`;
}

export function ctlUsage(): string {
  return `ctl: command a running service through its control socket (HTTP over a Unix socket in
PODSERVE_RUN_DIR, for root and its group only), or any service of the pod through the pod's
HTTPS API (--url, or PODSERVE_API_URL as scripts/pod.sh env sets it).

Usage: node dist/main.js ctl [--socket PATH | --service NAME] [--json] COMMAND [ARGS...]
       node dist/main.js ctl --url https://HOST:PORT --token-file F [--cacert F] [--servername N]
                             [--service NAME] [--json] COMMAND [ARGS...]

Commands:
  status                      phase, readiness, liveness and every process (state, pid,
                              restarts, health, last exit); exit 1 when not ready
  start|stop|restart PROCESS  from any state (a failed process included); stop keeps it stopped
  reload                      reload the service (as SIGHUP does) and wait for the outcome
  logs [-n N] [-f]            the last N log records (default 100); -f follows new ones
  actions                     what the service offers, with each action's input fields
                              (certificates: renew; dns: records, record-add, record-remove, ds)
  ACTION [WORD ...] [key=value ...]
                              run one of them; words name it and then fill its fields in
                              order (users add alice@example.test is users-add with address
                              alice@example.test); a single JSON object is taken as the input

Options:
  --socket PATH   the socket to use
  --service NAME  <PODSERVE_RUN_DIR>/NAME.sock (default: the only socket there)
  --json          machine-readable output
  --password-stdin  the action's secret field (a password) from standard input, never from
                  the command line
  --url URL       the pod's API (PODSERVE_API_URL); status without --service is the whole pod,
                  an action without --service goes to the one service that offers it
  --token-file F  the bearer token, read from a file, never an argument (PODSERVE_API_TOKEN_FILE)
  --cacert F      the CA to trust for the API's certificate (PODSERVE_CA_FILE)
  --servername N  the name its certificate carries, when the URL's host is an address
                  (PODSERVE_API_SERVERNAME)

Exit code: 0 done; 1 the service refused or failed the request (the reason on stderr);
69 nothing answers (or its certificate is not trusted); 76 it answers in another protocol
version; 77 the API refused the token (401) or its scope (403); 75 rate-limited (429: try
again later); 64 bad command line.
`;
}
