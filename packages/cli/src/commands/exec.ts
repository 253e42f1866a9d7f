import { parseArgs } from 'node:util';
import { UsageError } from '@podserve/runtime/errors';
import { execUsage } from '../usage.js';

const RESTART = ['never', 'on-failure', 'always'] as const;
const OUTPUT = ['raw', 'log'] as const;

/** `exec [--restart=P] [--output=raw|log] [--name N] -- CMD [ARGS…]` */
export async function execCommand(args: readonly string[]): Promise<number> {
  const dashdash = args.indexOf('--');
  const flags = dashdash === -1 ? args : args.slice(0, dashdash);
  const command = dashdash === -1 ? [] : args.slice(dashdash + 1);
  const parsed = parseFlags(flags);
  if (parsed.help) {
    process.stdout.write(execUsage());
    return 0;
  }
  const restart = oneOf('--restart', parsed.restart ?? 'never', RESTART);
  const output = oneOf('--output', parsed.output ?? 'raw', OUTPUT);
  const [file, ...rest] = command;
  if (file === undefined) throw new UsageError('exec needs a command after "--", e.g. exec -- sleep 60');
  const { execDefinition, runService } = await import('@podserve/runtime');
  return runService(execDefinition({ argv: [file, ...rest], restart, output, name: parsed.name }));
}

function parseFlags(flags: readonly string[]): { restart?: string; output?: string; name?: string; help?: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args: [...flags],
      options: {
        restart: { type: 'string' },
        output: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) {
      throw new UsageError(`exec: put the command after "--" (found "${positionals.join(' ')}" before it)`);
    }
    return values;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `exec: ${(err as Error).message.split('.')[0]}; options are --restart, --output, --name, --help`,
    );
  }
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`exec: ${flag} must be one of ${allowed.join(', ')}; found "${value}"`);
}
