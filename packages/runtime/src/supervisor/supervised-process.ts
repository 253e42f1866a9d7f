import { EventEmitter } from 'node:events';
import { type CommandRunner, runAs } from '../command.js';
import { errorMessage } from '../errors.js';
import { resolveGid, resolveUid } from '../files/users.js';
import type { Logger } from '../logging/logger.js';
import { type Child, spawnChild } from '../process/spawn.js';
import { backoffDelay } from './backoff.js';
import { childEnvironment } from './child-environment.js';
import { HealthMonitor } from './health-monitor.js';
import { LineSplitter } from './line-splitter.js';
import { NotifyChannel } from './notify-channel.js';
import { classifyLine } from './output-levels.js';
import { killGroup, killOne, settlesWithin, sleep } from './process-group.js';
import { type ProcessSpec, processDefaults, type SignalAction, stopAction } from './process-spec.js';
import { checkReady, describeCheck } from './readiness-check.js';
import { stopWithEscalation, sweepGroup } from './stop-escalation.js';

/**
 * pending → starting → running ⇄ backoff → … ; stopping → stopped.
 * exited: ended and its restart policy says not to restart. failed: crash loop (retried
 * slowly unless critical), or a dependency failed, so it was never started. Any state can
 * be started again on request (`ctl start`), except once the service is shutting down.
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
  /** False while its health check keeps failing (or its sd_notify watchdog is late) after start. */
  healthy: boolean;
  /** What the daemon last said about itself (sd_notify STATUS=). */
  daemonStatus: string | null;
  lastExit: ExitInfo | null;
  reason: string | null;
}

interface ProcessEvents {
  state: [ProcessState];
  /** Something in status() changed that is not a state (health). */
  change: [];
  /** Each line of its output, as logged: for services that watch what their daemon says. */
  line: [stream: 'stdout' | 'stderr', text: string];
  /** crashLoop: it ended for good because it kept failing (not because its policy said so). */
  exit: [ExitInfo & { willRestart: boolean; crashLoop: boolean }];
}

/** How long a stop waits for a stopped process's last output when its deadline has passed. */
const STOP_OUTPUT_GRACE_MS = 250;

/**
 * One child process: its state machine, restart policy and the requests an operator can
 * make (start, stop, restart, reload). Requests are serialised, so a reload that restarts
 * the process can never interleave with a stop; once the service is shutting down
 * (`stop()`), nothing starts it again. Stop escalation and health polling live in
 * stop-escalation.ts and health-monitor.ts.
 */
export class SupervisedProcess extends EventEmitter<ProcessEvents> {
  state: ProcessState = 'pending';
  restarts = 0;
  lastExit: ExitInfo | null = null;
  reason: string | null = null;
  healthy = true;
  daemonStatus: string | null = null;

  private child: Child | null = null;
  private notify: NotifyChannel | null = null;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private lastWatchdog = 0;
  /** Why we killed the current instance ourselves, if we did. */
  private killedBecause: string | null = null;
  private startedAt = 0;
  private consecutiveFailures = 0;
  /** The running instance is being stopped on purpose: its exit is not a failure. */
  private stopRequested = false;
  /** The service is shutting down: nothing may start this process again. */
  private retired = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private stabilityTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Settles once what the last main process left in its group is gone. */
  private swept: Promise<void> = Promise.resolve();
  /** Operator requests and reloads, one at a time. */
  private requests: Promise<unknown> = Promise.resolve();
  private readonly health: HealthMonitor | null;
  private readonly log: Logger;

  constructor(
    readonly spec: ProcessSpec,
    logger: Logger,
    private readonly commands: CommandRunner,
  ) {
    super();
    this.log = logger.child({ proc: spec.name });
    const readiness = spec.readiness && !('notify' in spec.readiness) ? spec.readiness : undefined;
    const check = spec.health ?? readiness;
    this.health = check
      ? new HealthMonitor(
          check,
          commands,
          this.log,
          {
            intervalMs: spec.healthIntervalMs ?? processDefaults.healthIntervalMs,
            failures: spec.healthFailures ?? processDefaults.healthFailures,
          },
          (healthy, reason) => this.setHealth(healthy, reason),
        )
      : null;
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
      healthy: this.healthy,
      daemonStatus: this.daemonStatus,
      lastExit: this.lastExit,
      reason: this.reason,
    };
  }

  /** The first start, by the supervisor's start order; later ones go through startOnRequest(). */
  start(): void {
    if (this.state !== 'pending') return;
    this.spawnChild();
  }

  /** Marks a process that will never start, e.g. because a dependency failed. */
  fail(reason: string): void {
    this.reason = reason;
    this.setState('failed');
  }

  /** Starts it from any state but running (failed included), with a clean failure count. */
  startOnRequest(): Promise<boolean> {
    return this.request(async () => {
      if (this.retired) return false;
      if (this.state === 'running' || this.state === 'starting') return this.waitReady();
      await this.stopInstance({ final: false });
      return this.respawn('started on request');
    });
  }

  /** Stops it and keeps it stopped (no restart policy, no slow retry) until started again. */
  stopOnRequest(): Promise<void> {
    return this.request(() => this.stopInstance({ final: false }));
  }

  /** Stop, then start: resolves true once it is ready again. */
  restartOnRequest(): Promise<boolean> {
    return this.request(async () => {
      if (this.retired) return false;
      await this.stopInstance({ final: false });
      return this.respawn('restarted on request');
    });
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

  /** Sends a signal to the main process (not its group): how a daemon's master is told things. */
  signal(sig: NodeJS.Signals): boolean {
    const pid = this.pid;
    if (pid === null || this.child?.exitStatus !== null) return false;
    return killOne(pid, sig);
  }

  /** The declared reload: a signal, a command, or (none declared) a restart. Never during a stop. */
  reload(): Promise<boolean> {
    return this.request(async () => {
      if (this.retired || this.stopRequested) {
        this.log.debug('reload skipped: stopping');
        return false;
      }
      if (this.state !== 'running' && this.state !== 'starting') {
        this.log.debug({ state: this.state }, 'reload skipped: not running');
        return this.state === 'exited';
      }
      const how = this.spec.reload;
      if (how === undefined) {
        this.log.info('reload: no reload method declared, restarting');
        await this.stopInstance({ final: false });
        return this.respawn('restarted to reload');
      }
      return this.deliver(how, 'reload');
    });
  }

  /**
   * The final stop (the service is shutting down): the declared stop action, then SIGKILL to
   * the whole group once the timeout passes. Nothing starts the process again afterwards.
   */
  async stop(signalOverride?: NodeJS.Signals, timeoutOverrideMs?: number): Promise<void> {
    this.retired = true;
    // Not queued behind a slow reload: the retired flag stops any request from spawning.
    await this.stopInstance({ final: true, signalOverride, timeoutOverrideMs });
  }

  /** SIGKILL to its whole group, now: for a stop that overran the container's grace period. */
  kill(): void {
    this.retired = true;
    const pid = this.pid;
    if (pid !== null) killGroup(pid, 'SIGKILL');
  }

  private request<T>(work: () => Promise<T>): Promise<T> {
    const next = this.requests.then(work, work);
    this.requests = next.catch(() => undefined);
    return next;
  }

  private async deliver(action: SignalAction, what: string): Promise<boolean> {
    if ('command' in action) {
      this.log.info({ argv: action.command }, `${what}: running ${action.command.join(' ')}`);
      try {
        await this.commands.run(action.command);
        return true;
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, `${what} command failed`);
        return false;
      }
    }
    const pid = this.pid;
    if (pid === null) return false;
    this.log.info({ signal: action.signal, target: action.target ?? 'main' }, `${what}: sending ${action.signal}`);
    if (action.target === 'group') {
      killGroup(pid, action.signal);
      return true;
    }
    return this.signal(action.signal);
  }

  private async stopInstance(options: {
    final: boolean;
    signalOverride?: NodeJS.Signals;
    timeoutOverrideMs?: number;
  }): Promise<void> {
    this.stopRequested = true;
    this.clearTimers();
    this.health?.stop();
    const child = this.child;
    if (child === null) {
      // Nothing runs (backoff, failed, exited, pending): a stop on request also cancels any
      // pending restart or slow retry; the final stop leaves exited/failed as the last word.
      const keep = options.final && (this.state === 'exited' || this.state === 'failed');
      if (!keep) this.setState('stopped');
      await this.swept;
      return;
    }
    const timeoutMs = Math.max(
      0,
      options.timeoutOverrideMs ?? this.spec.stopTimeoutMs ?? processDefaults.stopTimeoutMs,
    );
    const declared = stopAction(this.spec);
    const action: SignalAction = options.signalOverride
      ? { signal: options.signalOverride, target: 'signal' in declared ? declared.target : 'main' }
      : declared;
    const deadline = Date.now() + timeoutMs;
    this.setState('stopping');
    const fast = this.spec.fastStop
      ? { ...this.spec.fastStop, windowMs: this.spec.fastStopMs ?? processDefaults.fastStopMs }
      : undefined;
    await stopWithEscalation({ pid: child.pid, action, timeoutMs, fast, exited: this.exited }, this.log, this.commands);
    // What is still in its pipes (an unterminated last line, say) is logged before the stop
    // completes, so exiting right after cannot lose it; a stray holder of the pipe cannot hold us.
    await settlesWithin(child.closed, Math.max(STOP_OUTPUT_GRACE_MS, deadline - Date.now()));
  }

  /** A fresh start after a stop or a failure: the failure count starts from zero. */
  private respawn(why: string): Promise<boolean> {
    if (this.retired) return Promise.resolve(false);
    this.stopRequested = false;
    this.consecutiveFailures = 0;
    if (this.state !== 'pending') this.restarts += 1;
    this.log.info(why);
    this.spawnChild();
    return this.waitReady();
  }

  private spawnChild(): void {
    if (this.retired) return;
    const spec = this.spec;
    this.reason = null;
    this.healthy = true;
    this.daemonStatus = null;
    this.setState('starting');
    const lines = { stdout: this.lineLogger('stdout'), stderr: this.lineLogger('stderr') };
    let child: Child;
    try {
      const env = childEnvironment(spec);
      if (spec.readiness && 'notify' in spec.readiness) {
        this.notify = this.openNotify();
        env.NOTIFY_SOCKET = this.notify.address;
        if (spec.watchdogMs) env.WATCHDOG_USEC = String(spec.watchdogMs * 1000);
      }
      child = spawnChild({
        command: spec.command,
        args: spec.args ?? [],
        cwd: spec.cwd,
        env,
        user: runAs(
          spec.user === undefined ? undefined : resolveUid(spec.user),
          spec.group === undefined ? undefined : resolveGid(spec.group),
        ),
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
    this.notify?.attach(child.pid);
    this.startedAt = Date.now();
    this.exited = child.exited.then((status) => {
      // A stop ends the group itself; otherwise the main process's leftovers are swept here.
      if (!this.stopRequested) {
        const timeoutMs = spec.leftoverGraceMs ?? processDefaults.leftoverGraceMs;
        // SIGTERM, not the declared stop: a graceful-stop signal is for a master, and these are
        // what a dead master left behind (apache's workers ignore SIGWINCH without their parent).
        this.swept = sweepGroup(child.pid, 'SIGTERM', timeoutMs, this.log);
      }
      this.onExit(status.code, status.signal);
    });
    this.log.info({ pid: child.pid, argv: [spec.command, ...(spec.args ?? [])] }, `started (pid ${child.pid})`);
    void this.awaitReadiness(child);
  }

  /** Each line a record at the daemon's own level; a JSON line's fields become the record's. */
  private lineLogger(stream: 'stdout' | 'stderr'): LineSplitter {
    return new LineSplitter((line) => {
      const { level, msg, fields } = classifyLine(line, stream);
      // The runtime's own probes, as the daemon logs them: kept, at debug, unless worse than info.
      const quiet = level === 'info' && this.spec.quietLines?.test(line);
      this.log[quiet ? 'debug' : level]({ ...fields, stream }, msg);
      if (this.listenerCount('line') > 0) this.emit('line', stream, line);
    });
  }

  private async awaitReadiness(child: Child): Promise<void> {
    const check = this.spec.readiness;
    if (check === undefined) {
      this.setState('running');
      return;
    }
    const timeoutMs = this.spec.startTimeoutMs ?? processDefaults.startTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    if ('notify' in check) {
      // READY=1 moves it to running (onNotifyReady); here only the deadline is kept.
      this.log.debug('waiting for sd_notify READY=1');
      while (this.child === child && this.state === 'starting' && Date.now() < deadline) await sleep(50);
      if (this.child === child && this.state === 'starting') {
        this.reason = `not ready within ${timeoutMs} ms (no sd_notify READY=1)`;
        this.log.error(this.reason);
        this.killedBecause = this.reason;
        killGroup(child.pid, 'SIGKILL');
      }
      return;
    }
    const interval = check.intervalMs ?? processDefaults.readinessIntervalMs;
    this.log.debug({ check: describeCheck(check) }, 'waiting for readiness');
    while (this.child === child && this.state === 'starting') {
      if (await checkReady(check, this.commands)) {
        if (this.child === child && this.state === 'starting') {
          this.log.info({ ms: Date.now() - this.startedAt }, `ready (${describeCheck(check)})`);
          this.setState('running');
          this.health?.start();
        }
        return;
      }
      if (Date.now() >= deadline) {
        this.reason = `not ready within ${timeoutMs} ms (${describeCheck(check)})`;
        this.log.error(this.reason);
        this.killedBecause = this.reason;
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
    this.health?.stop();
    this.notify?.close();
    this.notify = null;
    const uptimeMs = this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
    this.lastExit = { code, signal, at: Date.now(), uptimeMs };
    this.child = null;
    // Killed by us for a reason (a start timeout, a silent watchdog): that reason is the story.
    const how = spawnError ?? this.killedBecause ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
    this.killedBecause = null;

    if (this.stopRequested) {
      this.log.info({ code, signal }, `stopped (${how})`);
      this.emit('exit', { ...this.lastExit, willRestart: false, crashLoop: false });
      this.setState('stopped');
      return;
    }
    const policy = this.spec.restart ?? processDefaults.restart;
    const clean = code === 0;
    const willRestart = !this.retired && (policy === 'always' || (policy === 'on-failure' && !clean));
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
      this.failCrashLoop(how, this.lastExit);
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
        if (this.stopRequested || this.retired || this.state !== 'backoff') return;
        this.restarts += 1;
        this.spawnChild();
      });
    }, delay);
  }

  /**
   * A crash loop marks the process failed. A critical one ends the service (the supervisor
   * sees to that); any other is tried again slowly, because what broke it (a full disk, a
   * peer that was down) often mends itself, and "failed until someone notices" helps nobody.
   */
  private failCrashLoop(how: string, exit: ExitInfo): void {
    const window = this.spec.stabilityWindowMs ?? processDefaults.stabilityWindowMs;
    const retryMs = this.critical ? 0 : (this.spec.failedRetryMs ?? processDefaults.failedRetryMs);
    this.reason = `crash loop: ended ${this.consecutiveFailures} times in a row within ${window} ms of starting (last: ${how})${retryMs > 0 ? `; trying again in ${Math.round(retryMs / 1000)} s` : ''}`;
    this.log.error({ code: exit.code, signal: exit.signal, restarts: this.restarts }, `failed: ${this.reason}`);
    this.emit('exit', { ...exit, willRestart: false, crashLoop: true });
    this.setState('failed');
    if (retryMs <= 0) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.swept.then(() => {
        if (this.stopRequested || this.retired || this.state !== 'failed') return;
        this.log.info('trying again after the crash loop');
        this.consecutiveFailures = 0;
        this.restarts += 1;
        this.spawnChild();
      });
    }, retryMs);
    this.restartTimer.unref();
  }

  private setHealth(healthy: boolean, reason: string | null): void {
    this.healthy = healthy;
    if (this.state === 'running') this.reason = reason;
    this.emit('change');
  }

  private openNotify(): NotifyChannel {
    const channel = new NotifyChannel(this.log, {
      ready: () => {
        if (this.state !== 'starting') return;
        this.log.info({ ms: Date.now() - this.startedAt }, 'ready (sd_notify READY=1)');
        this.setState('running');
        this.armWatchdog();
        this.health?.start();
      },
      status: (text) => {
        this.daemonStatus = text;
        this.emit('change');
      },
      watchdog: () => {
        this.lastWatchdog = Date.now();
        if (!this.healthy) this.setHealth(true, null);
      },
    });
    channel.open();
    return channel;
  }

  /** A daemon that promised WATCHDOG=1 pings and stops sending them is hung: kill it, the policy restarts it. */
  private armWatchdog(): void {
    const limit = this.spec.watchdogMs;
    if (!limit) return;
    this.lastWatchdog = Date.now();
    this.watchdogTimer = setInterval(
      () => {
        const child = this.child;
        if (!child || this.state !== 'running' || Date.now() - this.lastWatchdog <= limit) return;
        this.setHealth(false, `no sd_notify WATCHDOG=1 for ${Date.now() - this.lastWatchdog} ms (limit ${limit} ms)`);
        this.log.error(`${this.reason}; killing it as hung`);
        this.killedBecause = this.reason;
        if (this.watchdogTimer) clearInterval(this.watchdogTimer);
        this.watchdogTimer = null;
        killGroup(child.pid, 'SIGKILL');
      },
      Math.max(50, Math.floor(limit / 4)),
    );
    this.watchdogTimer.unref();
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
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.stabilityTimer) clearTimeout(this.stabilityTimer);
    this.restartTimer = null;
    this.stabilityTimer = null;
  }
}
