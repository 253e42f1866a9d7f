import { join } from 'node:path';
import type { ProcessSpec } from '@podserve/runtime';
import type { DnsSettings } from './settings.js';

const NAMED = '/usr/sbin/named';

/** The named process, as data: what `--dry-run`, status and the control socket show. */
export function namedProcess(s: DnsSettings): ProcessSpec {
  return {
    name: 'named',
    command: NAMED,
    // -f: foreground with the logging{} of named.conf (-g would ignore it); -u: drop to bind
    // once the ports are bound.
    args: ['-f', '-u', 'bind', '-c', join(s.paths.confRoot, 'current', 'named.conf')],
    restart: 'always',
    critical: false,
    // named sends READY=1 once it has loaded its zones ("running").
    readiness: { notify: true },
    stop: { signal: 'SIGTERM' },
    stopTimeoutMs: 8_000,
    startTimeoutMs: 30_000,
    healthIntervalMs: 10_000,
  };
}
