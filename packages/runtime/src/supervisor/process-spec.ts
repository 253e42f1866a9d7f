export type RestartPolicy = 'always' | 'on-failure' | 'never';

export type ReadinessCheck =
  /** `from`: the local address to connect from (127.0.0.2: see quietLines). */
  | { tcp: { host?: string; port: number; from?: string } }
  | { command: readonly string[] }
  | { file: string }
  | { probe: () => Promise<boolean> }
  /** sd_notify: the daemon sends READY=1 to the NOTIFY_SOCKET the runtime gives it (named, dovecot). */
  | { notify: true };

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

/**
 * How to tell a process something (stop, reload): a signal to its main process (the default
 * target, for daemons that coordinate their own workers) or to its whole process group, or
 * a command (`apache2ctl -k graceful-stop`).
 */
export type SignalAction = { signal: NodeJS.Signals; target?: 'main' | 'group' } | { command: readonly string[] };

/** Everything the supervisor needs to run, watch, restart, reload and stop one process. */
export interface ProcessSpec {
  name: string;
  command: string;
  args?: readonly string[];
  /**
   * The child's environment beyond PATH, LANG, TZ and HOME (see child-environment.ts): the
   * runtime's own variables and secrets never reach a child unless declared here.
   */
  env?: Readonly<Record<string, string>>;
  /** exec only: pass the runtime's environment through, less PodServe's own variables. */
  inheritEnvironment?: boolean;
  cwd?: string;
  /**
   * User and group names (or ids) to run as, with the user's supplementary groups from the
   * group database (initgroups); the daemon's own privilege drop is usually better.
   */
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
  /** A failed non-critical process is started again this long after its crash loop. Default 5 min; 0: never. */
  failedRetryMs?: number;
  /** Shorthand for `stop: { signal }`. Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** How to stop it; wins over stopSignal. Default: SIGTERM to the main process. */
  stop?: SignalAction;
  /**
   * When it exits on its own, what it left in its process group gets SIGTERM and, this much
   * later, SIGKILL. Default 2 s: a crashed master's workers rarely heed SIGTERM (apache's do
   * not), and its restart waits for them to be gone.
   */
  leftoverGraceMs?: number;
  /**
   * After this long, SIGKILL goes to the whole process group. Default 8 s; the service's stop
   * budget (from STOP_GRACE_PERIOD) caps it, whatever is declared.
   */
  stopTimeoutMs?: number;
  /**
   * A quicker way to stop, sent when the declared (graceful) stop has not ended
   * `fastStopMs` before the stop timeout: apache's SIGTERM after its graceful SIGWINCH ends
   * long downloads but still lets apache stop its own workers, where SIGKILL would not.
   */
  fastStop?: { signal: NodeJS.Signals; target?: 'main' | 'group' };
  /** How much of the stop timeout is kept for the fast stop. Default 2 s. */
  fastStopMs?: number;
  /** How to make the process re-read its config; without it, reload restarts the process. */
  reload?: SignalAction;
  /**
   * How to tell the process is ready; without it, it counts as ready as soon as it is spawned.
   * The check keeps running every `healthIntervalMs` after start: `healthFailures` failures
   * in a row make the process unhealthy (the service not ready) until it passes again.
   */
  readiness?: ReadinessCheck & { intervalMs?: number };
  /**
   * With a notify readiness check: the daemon must send WATCHDOG=1 at least this often
   * (it is told through WATCHDOG_USEC), or it counts as hung and is killed and restarted.
   */
  watchdogMs?: number;
  /**
   * What keeps being checked once the process runs, every `healthIntervalMs`; by default the
   * readiness check itself. A notify daemon needs one: READY=1 says nothing after start (dovecot
   * answering IMAP, named answering its zone).
   */
  health?: Exclude<ReadinessCheck, { notify: true }>;
  /** Default 10 s; 0: no periodic check once running. */
  healthIntervalMs?: number;
  /** Default 3. */
  healthFailures?: number;
  /** A start not ready within this long is killed and counts as a failure. Default 60 s. */
  startTimeoutMs?: number;
  /** Names of processes that must be ready before this one starts. */
  dependsOn?: readonly string[];
  /**
   * Lines the daemon writes about the runtime's own probes (a connection from the probes'
   * address, 127.0.0.2): logged at debug, not info, so a health check every few seconds does
   * not bury the mail log. A line the daemon calls a warning or worse keeps its level.
   */
  quietLines?: RegExp;
  /** log: each line becomes a log record tagged with the process name (default); raw: bytes pass through untouched. */
  output?: 'log' | 'raw';
}

export const processDefaults = {
  restart: 'on-failure' as RestartPolicy,
  stabilityWindowMs: 10_000,
  crashLoopLimit: 5,
  critical: false,
  failedRetryMs: 300_000,
  stopSignal: 'SIGTERM' as NodeJS.Signals,
  stopTimeoutMs: 8_000,
  fastStopMs: 2_000,
  leftoverGraceMs: 2_000,
  startTimeoutMs: 60_000,
  readinessIntervalMs: 250,
  healthIntervalMs: 10_000,
  healthFailures: 3,
  output: 'log' as const,
};

/** The declared stop action, the stopSignal shorthand folded in. */
export function stopAction(spec: ProcessSpec): SignalAction {
  return spec.stop ?? { signal: spec.stopSignal ?? processDefaults.stopSignal };
}
