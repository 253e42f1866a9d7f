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
  node dist/main.js --help | --version

Services:
${serviceLines}

Commands:
  ${'exec'.padEnd(width)}  supervise any command as init (signals forwarded, zombies reaped,
  ${''.padEnd(width)}  restart policy, exit code passed on); default --restart=never
  ${'health'.padEnd(width)}  probe a running service: exit 0 and one line when ok, 1 otherwise
  ${''.padEnd(width)}  (readiness by default; every published service when none is named)

"node dist/main.js <service> --help" lists the service's modes and environment variables.
Exit codes: 0 ok, 64 usage, 78 invalid environment, 73 configure failed, 69 start failed,
75 critical process failed, 70 internal error; exec passes on the command's code (128+N for signal N).
`;
}
