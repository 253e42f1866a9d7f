import { EventEmitter } from 'node:events';
import type { CommandRunner } from '../command.js';
import { errorMessage } from '../errors.js';
import { resolveGid, resolveUid } from '../files/users.js';
import type { Logger } from '../logging/logger.js';
import { type Child, spawnChild } from '../process/spawn.js';
import { backoffDelay } from './backoff.js';
import { LineSplitter } from './line-splitter.js';
import { type ProcessSpec, processDefaults } from './process-spec.js';
import { checkReady, describeCheck } from './readiness-check.js';

/**
 * pending → starting → running ⇄ backoff → … ; stopping → stopped.
 * exited: ended and its restart policy says not to restart. failed: crash loop,
 * or a dependency failed, so it was never started.
 */
export type ProcessState =
  | 'pending'
  | 'starting'
  | 'running'
  | 'backoff'
  | 'stopping'
  | 'stopped'
  | 'exited'
  | 'failed';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  uptimeMs: number;
}

export interface ProcessStatus {
  name: string;
  state: ProcessState;
  pid: number | null;
  restarts: number;
  critical: boolean;
  lastExit: ExitInfo | null;
  reason: string | null;
}

interface ProcessEvents {
  state: [ProcessState];
  /** crashLoop: it ended for good because it kept failing (not because its policy said so). */
  exit: [ExitInfo & { willRestart: boolean; crashLoop: boolean }];
}

/** One child process and its restart policy: the unit the supervisor is made of. */
export class SupervisedProcess extends EventEmitter<ProcessEvents> {
  state: ProcessState = 'pending';
  restarts = 0;
  lastExit: ExitInfo | null = null;
  reason: string | null = null;

  private child: Child | null = null;
  private startedAt = 0;
  private consecutiveFailures = 0;
  private stopRequested = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private stabilityTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Settles once what the last leader left in its process group is gone. */
  private swept: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    readonly spec: ProcessSpec,
    logger: Logger,
    private readonly commands: CommandRunner,
  ) {
    super();
    this.log = logger.child({ proc: spec.name });
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get critical(): boolean {
    return this.spec.critical ?? processDefaults.critical;
  }

  status(): ProcessStatus {
    return {
      name: this.spec.name,
      state: this.state,
      pid: this.pid,
      restarts: this.restarts,
      critical: this.critical,
      lastExit: this.lastExit,
      reason: this.reason,
    };
  }

  /** Spawns the process (once); restarts are then driven by its own policy. */
  start(): void {
    if (this.state !== 'pending') return;
    this.spawnChild();
  }

  /** Marks a process that will never start, e.g. because a dependency failed. */
  fail(reason: string): void {
    this.reason = reason;
    this.setState('failed');
  }

  /**
   * Resolves true once the process is ready (or, for a one-shot process, has exited 0),
   * false once it has failed, exited non-zero or been stopped.
   */
  waitReady(): Promise<boolean> {
    return new Promise((resolve) => {
      const decide = (): boolean => {
        const verdict = this.readyVerdict();
        if (verdict === undefined) return false;
        this.off('state', onState);
        resolve(verdict);
        return true;
      };
      const onState = () => {
        decide();
      };
      this.on('state', onState);
      decide();
    });
  }

  private readyVerdict(): boolean | undefined {
    switch (this.state) {
      case 'running':
        return true;
      case 'exited':
        return this.lastExit?.code === 0;
      case 'failed':
      case 'stopped':
      case 'stopping':
        return false;
      default:
        return undefined;
    }
  }

  /** Sends a signal to the process (not its group): how a daemon's master is told to reload. */
  signal(sig: NodeJS.Signals): boolean {
    const pid = this.pid;
    if (pid === null || this.child?.exitStatus !== null) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  async reload(): Promise<boolean> {
    const how = this.spec.reload;
    if (this.state !== 'running' && this.state !== 'starting') {
      this.log.debug({ state: this.state }, 'reload skipped: not running');
      return this.state === 'exited';
    }
    if (how === undefined) {
      this.log.info('reload: no reload method declared, restarting');
      await this.stop();
      this.stopRequested = false;
      this.state = 'pending';
      this.start();
      return this.waitReady();
    }
    if ('signal' in how) {
      this.log.info({ signal: how.signal }, `reload: sending ${how.signal}`);
      return this.signal(how.signal);
    }
    this.log.info({ argv: how.command }, 'reload: running reload command');
    try {
      await this.commands.run(how.command);
      return true;
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'reload command failed');
      return false;
    }
  }

  /** Stop signal, then SIGKILL to the whole process group once the timeout passes. */
  async stop(signalOverride?: NodeJS.Signals, timeoutOverrideMs?: number): Promise<void> {
    this.stopRequested = true;
    this.clearTimers();
    const child = this.child;
    if (child === null || this.state === 'stopped' || this.state === 'exited' || this.state === 'failed') {
      if (this.state !== 'exited' && this.state !== 'failed') this.setState('stopped');
      await this.swept;
      return;
    }
    const pid = child.pid;
    const signal = signalOverride ?? this.spec.stopSignal ?? processDefaults.stopSignal;
    const timeoutMs = Math.max(0, timeoutOverrideMs ?? this.spec.stopTimeoutMs ?? processDefaults.stopTimeoutMs);
    const deadline = Date.now() + timeoutMs;
    this.setState('stopping');
    this.log.info({ pid, signal, timeoutMs }, `stopping with ${signal}`);
    killGroup(pid, signal);

    const leaderExited = await raceTimeout(this.exited, timeoutMs);
    // The leader may be gone while daemons it forked still hold the group: they get
    // the rest of the timeout, then SIGKILL, so nothing outlives the stop.
    while (groupAlive(pid) && Date.now() < deadline) await sleep(25);
    if (!leaderExited || groupAlive(pid)) {
      this.log.warn({ pid, timeoutMs }, `did not stop within ${timeoutMs} ms; sending SIGKILL to its process group`);
      killGroup(pid, 'SIGKILL');
      await this.exited;
    }
    // What is still in its pipes (an unterminated last line, say) is logged before the stop
    // completes, so exiting right after cannot lose it; a stray holder of the pipe cannot hold us.
    await raceTimeout(
      child.closed.then(() => undefined),
      Math.max(STOP_OUTPUT_GRACE_MS, deadline - Date.now()),
    );
  }

  private spawnChild(): void {
    const spec = this.spec;
    this.reason = null;
    this.setState('starting');
    const lines = { stdout: this.lineLogger('stdout'), stderr: this.lineLogger('stderr') };
    let child: Child;
    try {
      child = spawnChild({
        command: spec.command,
        args: spec.args ?? [],
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        uid: spec.user === undefined ? undefined : resolveUid(spec.user),
        gid: spec.group === undefined ? undefined : resolveGid(spec.group),
        // Its own process group, so a stop can reach every descendant with one kill(-pgid).
        detached: true,
        // Raw output is for a command that owns the container's console (exec mode): it gets stdin too.
        stdin: spec.output === 'raw' ? 'inherit' : 'ignore',
        output: spec.output === 'raw' ? 'inherit' : 'pipe',
        onOutput: (stream, chunk) => (chunk === null ? lines[stream].end() : lines[stream].push(chunk)),
      });
    } catch (err) {
      // ENOENT, EACCES, a bad cwd or user: it never ran.
      this.exited = Promise.resolve();
      this.startedAt = 0;
      this.onSpawnError(err);
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.exited = child.exited.then((status) => {
      // A stop ends the group itself; otherwise the leader's leftovers are swept here.
      if (!this.stopRequested) this.swept = this.sweepGroup(child.pid);
      this.onExit(status.code, status.signal);
    });
    this.log.info({ pid: child.pid, argv: [spec.command, ...(spec.args ?? [])] }, `started (pid ${child.pid})`);
    void this.awaitReadiness(child);
  }

  private lineLogger(stream: 'stdout' | 'stderr'): LineSplitter {
    return new LineSplitter((line) => this.log.info({ stream }, line));
  }

  private async awaitReadiness(child: Child): Promise<void> {
    const check = this.spec.readiness;
    if (check === undefined) {
      this.setState('running');
      return;
    }
    const timeoutMs = this.spec.startTimeoutMs ?? processDefaults.startTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const interval = check.intervalMs ?? processDefaults.readinessIntervalMs;
    this.log.debug({ check: describeCheck(check) }, 'waiting for readiness');
    while (this.child === child && this.state === 'starting') {
      if (await checkReady(check, this.commands)) {
        if (this.child === child && this.state === 'starting') {
          this.log.info({ ms: Date.now() - this.startedAt }, `ready (${describeCheck(check)})`);
          this.setState('running');
        }
        return;
      }
      if (Date.now() >= deadline) {
        this.reason = `not ready within ${timeoutMs} ms (${describeCheck(check)})`;
        this.log.error(this.reason);
        killGroup(child.pid, 'SIGKILL');
        return;
      }
      await sleep(interval);
    }
  }

  private onSpawnError(err: unknown): void {
    this.log.error({ err: errorMessage(err) }, `could not start ${this.spec.command}`);
    this.onExit(null, null, `could not start: ${errorMessage(err)}`);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    this.clearTimers();
    const uptimeMs = this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
    this.lastExit = { code, signal, at: Date.now(), uptimeMs };
    this.child = null;
    const how = spawnError ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);

    if (this.stopRequested) {
      this.log.info({ code, signal }, `stopped (${how})`);
      this.emit('exit', { ...this.lastExit, willRestart: false, crashLoop: false });
      this.setState('stopped');
      return;
    }
    const policy = this.spec.restart ?? processDefaults.restart;
    const clean = code === 0;
    const willRestart = policy === 'always' || (policy === 'on-failure' && !clean);
    if (!willRestart) {
      this.log[clean ? 'info' : 'error'](
        { code, signal, uptimeMs },
        `${how}; restart policy ${policy}: not restarting`,
      );
      this.reason = clean ? null : how;
      this.emit('exit', { ...this.lastExit, willRestart: false, crashLoop: false });
      this.setState('exited');
      return;
    }

    this.consecutiveFailures += 1;
    const limit = this.spec.crashLoopLimit ?? processDefaults.crashLoopLimit;
    if (this.consecutiveFailures >= limit) {
      const window = this.spec.stabilityWindowMs ?? processDefaults.stabilityWindowMs;
      this.reason = `crash loop: ended ${this.consecutiveFailures} times in a row within ${window} ms of starting (last: ${how})`;
      this.log.error({ code, signal, restarts: this.restarts }, `failed: ${this.reason}`);
      this.emit('exit', { ...this.lastExit, willRestart: false, crashLoop: true });
      this.setState('failed');
      return;
    }
    const delay = backoffDelay(this.consecutiveFailures, this.spec.backoff);
    this.reason = `${how}; restarting in ${delay} ms (failure ${this.consecutiveFailures} of ${limit})`;
    this.log.warn({ code, signal, uptimeMs, delayMs: delay, failures: this.consecutiveFailures }, this.reason);
    this.emit('exit', { ...this.lastExit, willRestart: true, crashLoop: false });
    this.setState('backoff');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      // The old instance's leftovers (a worker still holding the port) go before the new one starts.
      void this.swept.then(() => {
        if (this.stopRequested || this.state !== 'backoff') return;
        this.restarts += 1;
        this.spawnChild();
      });
    }, delay);
  }

  /**
   * The leader has exited on its own, but what it started may still hold its process group
   * (`sh -c 'daemon & exit 0'`): like `tini -g` and dumb-init, end them with the stop signal
   * and SIGKILL after the stop timeout, so nothing outlives the process it belonged to.
   */
  private async sweepGroup(pgid: number): Promise<void> {
    if (!groupAlive(pgid)) return;
    const signal = this.spec.stopSignal ?? processDefaults.stopSignal;
    const timeoutMs = this.spec.stopTimeoutMs ?? processDefaults.stopTimeoutMs;
    this.log.info(
      { pgid, signal, timeoutMs },
      `the process exited but left others in its group; sending them ${signal}`,
    );
    killGroup(pgid, signal);
    const deadline = Date.now() + timeoutMs;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(25);
    if (groupAlive(pgid)) {
      this.log.warn({ pgid, timeoutMs }, `its group did not end within ${timeoutMs} ms; sending SIGKILL`);
      killGroup(pgid, 'SIGKILL');
      // Until the orphan reaper has collected them: an init that exits now would leave zombies.
      const reaped = Date.now() + KILLED_REAP_WAIT_MS;
      while (groupAlive(pgid) && Date.now() < reaped) await sleep(10);
    }
  }

  private setState(state: ProcessState): void {
    if (this.state === state) return;
    this.log.debug({ from: this.state, to: state }, `state ${this.state} → ${state}`);
    this.state = state;
    if (state === 'running') this.armStabilityWindow();
    this.emit('state', state);
  }

  /**
   * The window counts from readiness, not from spawn: a daemon that never becomes ready
   * must keep counting failures until the crash-loop limit marks it failed.
   */
  private armStabilityWindow(): void {
    if (this.stabilityTimer) clearTimeout(this.stabilityTimer);
    this.stabilityTimer = setTimeout(() => {
      this.stabilityTimer = null;
      if (this.consecutiveFailures > 0) this.log.info('stable again; failure count reset');
      this.consecutiveFailures = 0;
    }, this.spec.stabilityWindowMs ?? processDefaults.stabilityWindowMs);
  }

  private clearTimers(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.stabilityTimer) clearTimeout(this.stabilityTimer);
    this.restartTimer = null;
    this.stabilityTimer = null;
  }
}

/** How long a sweep waits after SIGKILL for the killed processes to be reaped. */
const KILLED_REAP_WAIT_MS = 1_000;

/** How long a stop waits for a stopped process's last output when its deadline has passed. */
const STOP_OUTPUT_GRACE_MS = 250;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we want.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function raceTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
