import type { CommandRunner } from '../command.js';
import type { Logger } from '../logging/logger.js';
import type { ReadinessCheck } from './process-spec.js';
import { checkReady, describeCheck } from './readiness-check.js';

export interface HealthOptions {
  intervalMs: number;
  /** Consecutive failures before the process counts as unhealthy. */
  failures: number;
}

/**
 * Keeps asking a running process its readiness check, so readiness stays true only while
 * the daemon answers: a named that stopped answering is not "ready" because it still runs.
 * One failure is noise; `failures` in a row flip it, one success flips it back.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | null = null;
  private failed = 0;
  private healthy = true;
  private stopped = false;
  /** Bumped by every start and stop: a probe from an earlier run does not reschedule itself. */
  private run = 0;

  constructor(
    private readonly check: ReadinessCheck,
    private readonly commands: CommandRunner,
    private readonly log: Logger,
    private readonly options: HealthOptions,
    private readonly onChange: (healthy: boolean, reason: string | null) => void,
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.stopped = false;
    this.run += 1;
    this.schedule(this.run);
  }

  stop(): void {
    this.stopped = true;
    this.run += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.failed = 0;
    this.healthy = true;
  }

  private schedule(run: number): void {
    this.timer = setTimeout(() => void this.probe(run), this.options.intervalMs);
    this.timer.unref();
  }

  private async probe(run: number): Promise<void> {
    const ok = await checkReady(this.check, this.commands);
    if (this.stopped || run !== this.run) return;
    if (ok) {
      this.failed = 0;
      if (!this.healthy) {
        this.healthy = true;
        this.log.info(`healthy again (${describeCheck(this.check)})`);
        this.onChange(true, null);
      }
    } else {
      this.failed += 1;
      this.log.debug({ failures: this.failed }, `health check failed (${describeCheck(this.check)})`);
      if (this.healthy && this.failed >= this.options.failures) {
        this.healthy = false;
        const reason = `health check failing ${this.failed} times in a row: ${describeCheck(this.check)} does not hold`;
        this.log.warn(reason);
        this.onChange(false, reason);
      }
    }
    this.schedule(run);
  }
}
