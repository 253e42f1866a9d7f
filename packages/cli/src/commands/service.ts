import { parseArgs } from 'node:util';
import { UsageError } from '@podserve/runtime/errors';
import type { ServiceEntry } from '../services.js';

/** `<service> [--mode M] [--dry-run [--output DIR]] [--help]` */
export async function serviceCommand(entry: ServiceEntry, args: readonly string[]): Promise<number> {
  let values: { mode?: string; 'dry-run'?: boolean; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        mode: { type: 'string' },
        'dry-run': { type: 'boolean' },
        output: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(
      `${entry.name}: ${(err as Error).message.split('.')[0]}; options are --mode, --dry-run, --output, --help`,
    );
  }
  const definition = await entry.load();
  if (values.help) {
    const { envText } = await import('@podserve/runtime');
    const modes = definition.modes
      .map(
        (m, i) =>
          `  ${m}${i === 0 ? ' (default)' : ''}${definition.modeHelp?.[m] ? `: ${definition.modeHelp[m]}` : ''}`,
      )
      .join('\n');
    process.stdout.write(
      `${definition.name}: ${definition.summary}\n\nUsage: node dist/main.js ${definition.name} [--mode MODE] [--dry-run [--output DIR]]\n\nModes:\n${modes}\n\nEnvironment:\n${envText(definition.env)}\n\nRun "node dist/main.js --help" for the common LOG_* and PODSERVE_* variables.\n`,
    );
    return 0;
  }
  if (values.mode !== undefined && !definition.modes.includes(values.mode)) {
    throw new UsageError(
      `${entry.name}: unknown mode "${values.mode}"; expected one of ${definition.modes.join(', ')}`,
    );
  }
  if (values.output !== undefined && !values['dry-run'])
    throw new UsageError(`${entry.name}: --output goes with --dry-run`);
  const { runService } = await import('@podserve/runtime');
  return runService(definition, {
    mode: values.mode,
    dryRun: values['dry-run'] ?? false,
    outputDir: values.output,
  });
}
