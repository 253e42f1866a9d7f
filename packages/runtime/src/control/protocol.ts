import type { HealthResult, Phase } from '../health/status.js';
import type { ProcessStatus } from '../supervisor/supervised-process.js';

/**
 * The control channel's wire format, shared by the server in every runtime, `ctl`, and the
 * pod-wide HTTPS API that will sit on these sockets. Paths are versioned: /v1/…
 */
export const CONTROL_API_VERSION = 'v1';

export interface StatusResponse {
  service: string;
  pid: number;
  mode: string;
  phase: Phase;
  readiness: HealthResult;
  liveness: HealthResult;
  processes: ProcessStatus[];
  /** What the service adds (certificates: the published generation; consumers: the one they serve). */
  details: Record<string, unknown>;
  actions: ActionInfo[];
  /** PID 1's own footprint, for soak runs and the API: bytes, and open descriptors. */
  runtime: RuntimeFootprint;
}

export interface RuntimeFootprint {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  uptimeSeconds: number;
}

export interface ActionInfo {
  name: string;
  summary: string;
  /** The phases it runs in (others answer 503). */
  phases: Phase[];
  /** Its input and output as JSON Schema (draft 2020-12); a secret field is `writeOnly`. */
  input?: Record<string, unknown>;
  output?: Record<string, unknown>;
}

/** One error shape everywhere: `{ error: { code, message, details? } }`. */
export interface ErrorResponse {
  error: { code: string; message: string; details?: unknown };
}

/** `<run dir>/<service>.sock`: one per running service, in the volume the pod's containers share. */
export function controlSocketPath(runDir: string, service: string): string {
  return `${runDir.replace(/\/+$/, '')}/${service}.sock`;
}
