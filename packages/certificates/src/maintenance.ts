import { unlink } from 'node:fs/promises';
import type { HealthResult, Logger } from '@podserve/runtime';
import { type Alarm, assess } from './health.js';
import { type CertificateManager, type EnsureOutcome, ISSUE_TIMEOUT_MS } from './manager.js';
import { renewAt } from './renewal.js';
import type { Settings } from './settings.js';
import { errCode } from './storage/fsx.js';

/** The loop's heartbeat: also how quickly the trigger file is noticed. */
const TICK_MS = 1_000;
/** Re-read CERT_PATH this often, so probes notice material changed or removed behind our back. */
const RECHECK_MS = 60_000;
/** Repeat the loud alarm at most this often while it lasts. */
const ALARM_REPEAT_MS = 5 * 60_000;

/**
 * `cron` mode: the pod's certificate maintainer. Wakes every second, renews when the
 * jittered renewal time (or the retry time after a failure) has come, and on demand:
 * SIGUSR1, or a file named `renew-now` created in CERT_PATH (any container sharing the
 * volume can do that; it is removed once noticed).
 */
export class Maintenance {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private runningSince = 0;
  private lastTick = Date.now();
  private lastRecheck = Date.now();
  private dueAt = 0;
  private forced: string | null = null;
  private alarm: Alarm = 'none';
  private lastAlarmLog = 0;
  private stopped = false;
  private lastOutcome: EnsureOutcome | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly manager: CertificateManager,
    private readonly settings: Settings,
    private readonly log: Logger,
    stopSignal: AbortSignal,
    /** Told whenever readiness may have changed: a renewal ended, or the alarm changed. */
    private readonly healthChanged: () => void = () => {},
  ) {
    stopSignal.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  /** Takes over after the first ensure(): schedules from its outcome and starts ticking. */
  start(first: EnsureOutcome): void {
    this.schedule(first);
    this.evaluateAlarm();
    // Not unref'd: in cron mode this timer is what keeps the process alive.
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.log.debug({ dueAt: new Date(this.dueAt), tickMs: TICK_MS }, 'maintenance loop started');
  }

  /** Renews now and resolves with the outcome (the control socket's `renew`). */
  async renewNow(reason: string): Promise<EnsureOutcome | undefined> {
    this.log.info({ reason }, `renewal requested (${reason})`);
    await this.running?.catch(() => undefined);
    this.forced = reason;
    await this.tick();
    return this.lastOutcome;
  }

  requestRenewal(reason: string): void {
    this.log.info({ reason }, `renewal requested (${reason})`);
    this.forced = reason;
    void this.tick();
  }

  /** SIGHUP: look at CERT_PATH again now (and fix or renew what needs it). */
  recheck(): void {
    this.dueAt = 0;
    void this.tick();
  }

  liveness(): HealthResult {
    const age = Date.now() - this.lastTick;
    if (this.stopped) return { ok: true, reason: 'stopping' };
    if (age > 10 * TICK_MS + 5_000)
      return { ok: false, reason: `maintenance loop has not run for ${Math.round(age / 1000)} s` };
    if (this.running && Date.now() - this.runningSince > ISSUE_TIMEOUT_MS + 60_000) {
      return {
        ok: false,
        reason: `an issuance has been running for ${Math.round((Date.now() - this.runningSince) / 1000)} s`,
      };
    }
    return {
      ok: true,
      reason: 'maintenance loop running',
      details: { nextCheckAt: new Date(this.dueAt).toISOString() },
    };
  }

  readiness(): HealthResult {
    const { health } = assess(this.manager.published, this.settings);
    const state = this.manager.renewalState;
    if (!health.ok && state?.lastError) {
      return { ...health, details: { ...health.details, lastError: state.lastError, retryAt: state.nextAttemptAt } };
    }
    return health;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private async tick(): Promise<void> {
    this.lastTick = Date.now();
    if (this.running || this.stopped) return;
    if (!this.forced && (await this.triggerFilePresent())) this.forced = 'trigger file renew-now';
    const now = Date.now();
    if (!this.forced && now < this.dueAt) {
      if (now - this.lastRecheck >= RECHECK_MS) {
        this.lastRecheck = now;
        await this.manager.inspect().catch((err: unknown) => this.log.warn({ err: String(err) }, 're-check failed'));
        this.healthChanged(); // the material may have changed (or gone) behind our back
      }
      this.evaluateAlarm();
      return;
    }
    const force = this.forced ?? undefined;
    this.forced = null;
    this.runningSince = now;
    this.running = (async () => {
      try {
        const outcome = await this.manager.ensure({ force, signal: this.abort.signal });
        this.lastOutcome = outcome;
        this.schedule(outcome);
      } catch (err) {
        // Lock trouble or an unreadable CERT_PATH: retry soon, but not in a tight loop.
        this.dueAt = Date.now() + this.settings.retryMinMs;
        this.log.error({ err: (err as Error).message }, `certificate maintenance failed: ${(err as Error).message}`);
      } finally {
        this.lastRecheck = Date.now();
        this.running = null;
        this.evaluateAlarm();
        this.healthChanged();
      }
    })();
    await this.running;
  }

  private schedule(outcome: EnsureOutcome): void {
    switch (outcome.action) {
      case 'kept':
      case 'issued': {
        const byLifetime = renewAt(outcome.published.pair, this.settings).getTime();
        this.dueAt = outcome.suggested ? Math.min(byLifetime, outcome.suggested.getTime()) : byLifetime;
        break;
      }
      case 'deferred':
        this.dueAt = outcome.until.getTime();
        break;
      case 'failed':
        this.dueAt = outcome.retryAt.getTime();
        break;
    }
    this.log.debug(
      { action: outcome.action, nextCheckAt: new Date(this.dueAt).toISOString() },
      'next certificate check scheduled',
    );
  }

  private async triggerFilePresent(): Promise<boolean> {
    try {
      await unlink(this.settings.layout.trigger);
      return true;
    } catch (err) {
      if (errCode(err) !== 'ENOENT') this.log.debug({ err: String(err) }, 'trigger file check failed');
      return false;
    }
  }

  /** Loud, repeated error logs while the published certificate is near or past expiry. */
  private evaluateAlarm(): void {
    const { alarm, health } = assess(this.manager.published, this.settings);
    const changed = alarm !== this.alarm;
    this.alarm = alarm;
    if (changed) this.healthChanged();
    if (alarm === 'none') {
      if (changed) this.log.info({ reason: health.reason }, 'certificate alarm cleared');
      return;
    }
    if (!changed && Date.now() - this.lastAlarmLog < ALARM_REPEAT_MS) return;
    this.lastAlarmLog = Date.now();
    const state = this.manager.renewalState;
    this.log.error(
      {
        alarm,
        ...health.details,
        lastError: state?.lastError,
        failures: state?.failures,
        retryAt: state?.nextAttemptAt,
      },
      `CERTIFICATE ALARM: ${health.reason}${state?.lastError ? `; last renewal error: ${state.lastError}` : ''}`,
    );
  }
}
