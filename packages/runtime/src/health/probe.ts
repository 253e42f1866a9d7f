import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { ServiceStatus } from './status.js';
import { statusPath } from './status.js';

export { DEFAULT_RUN_DIR } from './status.js';

export type ProbeKind = 'liveness' | 'readiness';

export interface ProbeOutcome {
  ok: boolean;
  /** One line for the probe's output: `<service>: <ok|not ok>: <reason>`. */
  line: string;
}

/**
 * What `node dist/main.js health` answers. It reads only the published status file:
 * no service code runs here, so it is as fast as a Node start and cannot hang.
 */
export function probe(kind: ProbeKind, runDir: string, service?: string): ProbeOutcome[] {
  const services = service ? [service] : publishedServices(runDir);
  if (services.length === 0) {
    return [{ ok: false, line: `no PodServe service has published a status in ${runDir} (not started yet?)` }];
  }
  return services.map((s) => probeOne(kind, runDir, s));
}

function publishedServices(runDir: string): string[] {
  try {
    return readdirSync(runDir)
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
  } catch {
    return [];
  }
}

function probeOne(kind: ProbeKind, runDir: string, service: string): ProbeOutcome {
  const path = statusPath(runDir, service);
  let status: ServiceStatus;
  let heartbeatAt: number;
  try {
    heartbeatAt = statSync(path).mtimeMs;
    status = JSON.parse(readFileSync(path, 'utf8')) as ServiceStatus;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? `no status at ${path} (not started yet?)` : `unreadable status ${path}: ${String(err)}`;
    return fail(service, kind, why);
  }
  if (!processAlive(status.pid))
    return fail(service, kind, `process ${status.pid} is not running (phase was ${status.phase})`);
  const ageMs = Date.now() - heartbeatAt;
  const staleAfter = Math.max(3 * status.heartbeatMs, 10_000);
  if (ageMs > staleAfter) {
    return fail(service, kind, `status not refreshed for ${Math.round(ageMs / 1000)} s: event loop stuck?`);
  }
  const result = kind === 'liveness' ? status.liveness : status.readiness;
  const word = kind === 'liveness' ? 'alive' : 'ready';
  return {
    ok: result.ok,
    line: `${service}: ${result.ok ? word : `not ${word}`}: ${result.reason}`,
  };
}

function fail(service: string, kind: ProbeKind, reason: string): ProbeOutcome {
  return { ok: false, line: `${service}: not ${kind === 'liveness' ? 'alive' : 'ready'}: ${reason}` };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
