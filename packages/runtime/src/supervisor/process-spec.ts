export type RestartPolicy = 'always' | 'on-failure' | 'never';

export type ReadinessCheck =
  | { tcp: { host?: string; port: number } }
  | { command: readonly string[] }
  | { file: string }
  | { probe: () => Promise<boolean> };

export interface BackoffOptions {
  /** Delay before the first restart. Default 500 ms. */
  initialMs?: number;
  /** Cap on the delay. Default 30 s. */
  maxMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
  /** ± fraction of random spread, so processes that died together do not restart in lockstep. Default 0.2. */
  jitter?: number;
}

/** Everything the supervisor needs to run, watch, restart, reload and stop one process. */
export interface ProcessSpec {
  name: string;
  command: string;
  args?: readonly string[];
  /** Added to the runtime's own environment (which children inherit). */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** User and group names (or ids) to run as; the daemon's own privilege drop is usually better. */
  user?: string | number;
  group?: string | number;
  /** Default on-failure. */
  restart?: RestartPolicy;
  backoff?: BackoffOptions;
  /** Up this long, a start counts as successful and the failure count resets. Default 10 s. */
  stabilityWindowMs?: number;
  /** This many consecutive exits within the stability window mark the process failed. Default 5. */
  crashLoopLimit?: number;
  /** When this process fails for good, the whole service (and so the container) ends. Default false. */
  critical?: boolean;
  /** Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** After this long, SIGKILL goes to the whole process group. Default 8 s (inside podman's 10 s). */
  stopTimeoutMs?: number;
  /** How to make the process re-read its config; without it, reload restarts the process. */
  reload?: { signal: NodeJS.Signals } | { command: readonly string[] };
  /** How to tell the process is ready; without it, it counts as ready as soon as it is spawned. */
  readiness?: ReadinessCheck & { intervalMs?: number };
  /** A start not ready within this long is killed and counts as a failure. Default 60 s. */
  startTimeoutMs?: number;
  /** Names of processes that must be ready before this one starts. */
  dependsOn?: readonly string[];
  /** log: each line becomes a log record tagged with the process name (default); raw: bytes pass through untouched. */
  output?: 'log' | 'raw';
}

export const processDefaults = {
  restart: 'on-failure' as RestartPolicy,
  stabilityWindowMs: 10_000,
  crashLoopLimit: 5,
  critical: false,
  stopSignal: 'SIGTERM' as NodeJS.Signals,
  stopTimeoutMs: 8_000,
  startTimeoutMs: 60_000,
  readinessIntervalMs: 250,
  output: 'log' as const,
};
