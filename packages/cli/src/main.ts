// First: signal listeners before anything else loads (a PID 1 ignores SIGTERM without one).
import '@podserve/runtime/early';
import { UsageError } from '@podserve/runtime/errors';
import { apiTokenCommand } from './commands/api-token.js';
import { ctlCommand } from './commands/ctl.js';
import { execCommand } from './commands/exec.js';
import { healthCommand } from './commands/health.js';
import { serviceCommand } from './commands/service.js';
import { findService, services } from './services.js';
import { mainUsage } from './usage.js';
import { version } from './version.js';

const EXIT_USAGE = 64;
const EXIT_INTERNAL = 70;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(mainUsage());
      return command === undefined ? EXIT_USAGE : 0;
    case '--version':
    case '-V':
      process.stdout.write(`podserve ${version}\n`);
      return 0;
    case 'health':
      return healthCommand(rest, process.env);
    case 'exec':
      return execCommand(rest);
    case 'ctl':
      return ctlCommand(rest, process.env);
    case 'api-token':
      return apiTokenCommand(rest);
  }
  const entry = findService(command);
  if (entry) return serviceCommand(entry, rest);
  const known = [...services.map((s) => s.name), 'exec', 'health', 'ctl', 'api-token'].join(', ');
  throw new UsageError(
    command.startsWith('-')
      ? `unknown option "${command}"; expected a service or one of: ${known}`
      : `unknown service "${command}"; known: ${known}`,
  );
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`podserve: ${err.message}\nRun "node dist/main.js --help" for usage.\n`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(
      `podserve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(EXIT_INTERNAL);
  },
);
