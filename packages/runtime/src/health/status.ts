import type { ProcessStatus } from '../supervisor/supervised-process.js';
import type { HealthResult } from '../supervisor/supervisor.js';

export type { HealthResult } from '../supervisor/supervisor.js';

/** Where the service is in its lifecycle. Only `ready` can pass a readiness probe. */
export type Phase = 'validating' | 'configuring' | 'starting' | 'ready' | 'stopping';

/** What a running service publishes for probes: `<PODSERVE_RUN_DIR>/<service>.json`. */
export interface ServiceStatus {
  service: string;
  pid: number;
  phase: Phase;
  startedAt: string;
  /** When the content last changed. The file's mtime is the heartbeat: touched every heartbeatMs. */
  changedAt: string;
  heartbeatMs: number;
  liveness: HealthResult;
  readiness: HealthResult;
  processes: ProcessStatus[];
}

/** Where services publish their status and control sockets unless PODSERVE_RUN_DIR says otherwise. */
export const DEFAULT_RUN_DIR = '/run/podserve';

export function statusPath(runDir: string, service: string): string {
  return `${runDir.replace(/\/$/, '')}/${service}.json`;
}
