import { renameSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import { mkdirpSync } from '../files/mkdirp.js';
import { isoTime } from '../logging/iso-time.js';
import type { Logger } from '../logging/logger.js';
import type { HealthResult } from './status.js';
import { type Phase, type ServiceStatus, statusPath } from './status.js';

export interface HealthSource {
  liveness(): Promise<HealthResult>;
  readiness(): Promise<HealthResult>;
  processes(): ServiceStatus['processes'];
}

/**
 * How long a liveness or readiness evaluation may take before it counts as failed. A service's
 * own probes carry 2 s timeouts (a TLS handshake each), so the bound sits above them: at 1 s,
 * mail's readiness (handshakes on 25, 587 and 143, and LMTP) timed out under a loaded host and
 * left the service unready until the next evaluation.
 */
const CHECK_TIMEOUT_MS = 3_000;
/** How long a status evaluated for one caller answers the next ones too (unless something changed). */
const SHARED_STATUS_MS = 1_000;

type Evaluated = Omit<ServiceStatus, 'changedAt'>;

/**
 * Evaluates the service's liveness and readiness in-process and publishes them atomically,
 * so a probe only reads one small file: fast, and it never runs the service's checks in a
 * second process. Evaluation happens on every change and every `recheckMs`; in between,
 * the heartbeat only touches the file's mtime, which proves the event loop turns. An idle
 * init then allocates next to nothing, so its heap does not creep up between collections.
 */
export class StatusPublisher {
  private phase: Phase = 'validating';
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> = Promise.resolve();
  private queued = false;
  private warned = false;
  /** What was last written, without its timestamp: an unchanged status only gets a new mtime. */
  private lastContent = '';
  private removed = false;
  private sinceEvaluation = 0;
  /** The last evaluation's readiness: while false, every heartbeat evaluates again. */
  private lastReady = false;
  /** The evaluation callers of `current()` share: one at a time, reused for SHARED_STATUS_MS. */
  private shared: { promise: Promise<Evaluated>; settledAt: number | null } | null = null;
  private readonly startedAt = isoTime();
  readonly path: string;

  /** The phase last set: cheap, with no evaluation behind it. */
  get currentPhase(): Phase {
    return this.phase;
  }

  constructor(
    private readonly runDir: string,
    private readonly service: string,
    private readonly source: HealthSource,
    private readonly logger: Logger,
    readonly heartbeatMs = 5_000,
    readonly recheckMs = 15_000,
  ) {
    this.path = statusPath(runDir, service);
  }

  async start(): Promise<void> {
    // However the process ends (a crash included), the status must not outlive it.
    process.once('exit', this.removeNow);
    try {
      mkdirpSync(this.runDir);
    } catch {
      // write() reports the problem once, with the path.
    }
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
    await this.publish();
  }

  setPhase(phase: Phase): Promise<void> {
    this.phase = phase;
    return this.publish();
  }

  /** Coalesces bursts of changes into at most one write in flight plus one queued. */
  publish(): Promise<void> {
    if (this.removed) return Promise.resolve();
    this.sinceEvaluation = 0;
    this.forgetSettled();
    if (this.queued) return this.pending;
    this.queued = true;
    this.pending = this.pending.then(async () => {
      this.queued = false;
      if (!this.removed) await this.write();
    });
    return this.pending;
  }

  /** Stops publishing, lets a write in flight finish, then deletes the status. */
  async remove(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.removed = true;
    await this.pending;
    this.removeNow();
    process.off('exit', this.removeNow);
  }

  private readonly removeNow = (): void => {
    this.removed = true;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  };

  private beat(): void {
    this.sinceEvaluation += this.heartbeatMs;
    // Not ready: evaluate again at every beat, so a probe that failed once (a handshake slowed
    // by a loaded host) keeps the service unready for one heartbeat, not a whole recheck period.
    if (this.sinceEvaluation >= this.recheckMs || this.lastContent === '' || !this.lastReady) {
      void this.publish();
      return;
    }
    try {
      const now = Date.now() / 1000;
      utimesSync(this.path, now, now);
    } catch {
      this.lastContent = ''; // gone (e.g. a cleaned /run): the next beat writes it again
    }
  }

  /**
   * The status for the control socket's `status`: every caller waiting at the same time gets
   * the one evaluation in flight, and one that finished less than SHARED_STATUS_MS ago and
   * saw no change since is answered again. A readiness check can be a TLS handshake or a DNS
   * query: 1,500 callers must not run 1,500 of them (measured: PID 1 from 70 to 310 MB).
   */
  current(): Promise<Evaluated> {
    const shared = this.shared;
    if (shared && (shared.settledAt === null || Date.now() - shared.settledAt < SHARED_STATUS_MS)) {
      return shared.promise;
    }
    const entry: { promise: Promise<Evaluated>; settledAt: number | null } = {
      promise: this.evaluate(),
      settledAt: null,
    };
    this.shared = entry;
    const settled = () => {
      entry.settledAt = Date.now();
    };
    entry.promise.then(settled, settled);
    return entry.promise;
  }

  /** A change makes a finished evaluation stale; one still in flight is left to finish. */
  private forgetSettled(): void {
    if (this.shared?.settledAt !== null) this.shared = null;
  }

  /** The status as probes see it, evaluated now. */
  async evaluate(): Promise<Evaluated> {
    const [liveness, readiness] = await Promise.all([
      bounded(() => this.source.liveness(), 'liveness'),
      bounded(() => this.source.readiness(), 'readiness'),
    ]);
    return {
      service: this.service,
      pid: process.pid,
      phase: this.phase,
      startedAt: this.startedAt,
      heartbeatMs: this.heartbeatMs,
      liveness,
      readiness:
        this.phase === 'ready'
          ? readiness
          : {
              ok: false,
              // What it is waiting for (a certificate, a daemon), so a probe says more than "starting".
              reason: readiness.ok ? `service is ${this.phase}` : `service is ${this.phase}: ${readiness.reason}`,
              details: { checks: readiness },
            },
      processes: this.source.processes(),
    };
  }

  private async write(): Promise<void> {
    const status = await this.evaluate();
    this.lastReady = status.readiness.ok;
    try {
      const content = JSON.stringify(status);
      if (content === this.lastContent) {
        const now = Date.now() / 1000;
        utimesSync(this.path, now, now);
        return;
      }
      // Atomic (rename) so a probe never reads half a file; not durable (no fsync) because
      // the status is meaningless after a crash anyway. Synchronous: a few hundred bytes,
      // and it keeps the heartbeat off libuv's threadpool.
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ ...status, changedAt: isoTime() })}\n`, { mode: 0o644 });
      renameSync(tmp, this.path);
      this.lastContent = content;
    } catch (err) {
      this.lastContent = '';
      if (!this.warned)
        this.logger.warn({ path: this.path, err: errorMessage(err) }, 'cannot publish health status; probes will fail');
      this.warned = true;
    }
  }
}

async function bounded(check: () => Promise<HealthResult>, name: string): Promise<HealthResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise<HealthResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, reason: `${name} check took over ${CHECK_TIMEOUT_MS} ms` }),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    return { ok: false, reason: `${name} check threw: ${errorMessage(err)}` };
  } finally {
    clearTimeout(timer);
  }
}
