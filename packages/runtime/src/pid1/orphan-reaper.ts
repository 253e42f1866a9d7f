import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from '../logging/logger.js';
import { isLibuvChild } from '../process/own-children.js';

/** The calls the native addon (@podserve/reaper) provides. */
export interface ReaperCalls {
  waitpidNoHang(pid: number): { pid: number; code: number | null; signal: number | null } | null;
  setChildSubreaper(): boolean;
  releaseFreedMemory(): boolean;
}

export interface ReaperStats {
  reaped: number;
  scans: number;
}

/**
 * Reaps zombies that were reparented to us (orphans of daemons, of `podman exec`
 * probes, of our children's children) one pid at a time: on SIGCHLD, list our
 * children from /proc/self/task/<tid>/children, pick those in state Z that libuv did
 * not spawn, and waitpid() exactly those.
 */
export class OrphanReaper {
  readonly stats: ReaperStats = { reaped: 0, scans: 0 };
  private scanning = false;
  private rescan = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly onSigchld = () => this.scan();

  constructor(
    private readonly calls: ReaperCalls,
    private readonly logger: Logger,
  ) {}

  /** Starts reaping; when we are not PID 1, becomes a child subreaper so orphans still come to us. */
  start(): void {
    if (process.pid !== 1) {
      const ok = this.calls.setChildSubreaper();
      this.logger.debug({ subreaper: ok }, 'not PID 1: registered as child subreaper');
    }
    process.on('SIGCHLD', this.onSigchld);
    // SIGCHLD coalesces, but every sweep runs until no zombie is left, so a wake-up is never
    // really missed; the slow periodic sweep is only a backstop.
    this.timer = setInterval(this.onSigchld, 30_000);
    this.timer.unref();
    this.scan();
  }

  stop(): void {
    process.off('SIGCHLD', this.onSigchld);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sweep; reentrant calls during a sweep become one more sweep after it. */
  scan(): void {
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = true;
    try {
      do {
        this.rescan = false;
        this.stats.scans += 1;
        for (const pid of zombieChildren()) {
          if (isLibuvChild(pid)) continue;
          const result = this.calls.waitpidNoHang(pid);
          if (result) {
            this.stats.reaped += 1;
            this.logger.trace({ pid, code: result.code, signal: result.signal }, 'reaped orphan');
          }
        }
      } while (this.rescan);
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'orphan reaping sweep failed');
    } finally {
      this.scanning = false;
    }
  }
}

/** Our children (any thread's) that are zombies. */
export function zombieChildren(): number[] {
  const zombies: number[] = [];
  for (const pid of childPids()) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The state follows the command name, which is in parentheses and may contain anything.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') zombies.push(pid);
  }
  return zombies;
}

function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const field of text.split(' ')) {
      if (field !== '' && field !== '\n') pids.push(Number(field));
    }
  }
  return pids;
}
