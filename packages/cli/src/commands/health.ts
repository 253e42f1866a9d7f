import { UsageError } from '@podserve/runtime/errors';
import { DEFAULT_RUN_DIR, type ProbeKind, probe } from '@podserve/runtime/health';
import { healthUsage } from '../usage.js';

/** `health [liveness|readiness] [service]`: reads the published status only, so it is fast and cannot hang. */
export function healthCommand(args: readonly string[], env: NodeJS.ProcessEnv): number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(healthUsage());
    return 0;
  }
  const [first, second, ...rest] = args;
  let kind: ProbeKind = 'readiness';
  let service: string | undefined;
  if (first === 'liveness' || first === 'readiness') {
    kind = first;
    service = second;
    if (rest.length > 0)
      throw new UsageError(`health takes at most a kind and a service; unexpected "${rest.join(' ')}"`);
  } else {
    service = first;
    if (second !== undefined) throw new UsageError(`health: unknown probe "${first}"; expected liveness or readiness`);
  }
  if (service?.startsWith('-')) throw new UsageError(`health: unknown option "${service}"`);
  const outcomes = probe(kind, env.PODSERVE_RUN_DIR || DEFAULT_RUN_DIR, service);
  for (const o of outcomes) (o.ok ? process.stdout : process.stderr).write(`${o.line}\n`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}
