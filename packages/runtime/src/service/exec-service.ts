import { basename } from 'node:path';
import { defineEnv, type EnvValues } from '../config/env.js';
import { duration } from '../config/env-types.js';
import { ExitCode, exitCodeOf } from '../exit-codes.js';
import type { HandledSignal } from '../pid1/signals.js';
import type { RestartPolicy } from '../supervisor/process-spec.js';
import type { SupervisedProcess } from '../supervisor/supervised-process.js';
import { BaseService, defineService, type ServiceContext, type ServiceDefinition } from './base-service.js';

export interface ExecOptions {
  argv: readonly [string, ...string[]];
  restart: RestartPolicy;
  /** raw: the command's output passes through untouched (default); log: each line becomes a log record. */
  output: 'raw' | 'log';
  name?: string;
}

/** Exit code when the command cannot be started at all, as shells report "command not found". */
export const EXEC_SPAWN_FAILED = 127;

export const execEnv = defineEnv({
  EXEC_STOP_TIMEOUT: {
    ...duration(),
    default: '8s',
    description:
      'How long the command (and what it left in its process group) gets after the stop signal before SIGKILL. Keep it inside the orchestrator’s grace period (podman: 10 s).',
  },
});
type ExecEnv = EnvValues<typeof execEnv>;

/**
 * `node dist/main.js exec -- CMD`: the runtime as a drop-in init for any image, like
 * tini: signals forwarded, orphans reaped, the command's exit code passed on.
 */
class ExecService extends BaseService<ExecEnv> {
  private proc: SupervisedProcess | null = null;

  constructor(
    ctx: ServiceContext<ExecEnv>,
    private readonly options: ExecOptions,
  ) {
    super(ctx);
  }

  async configure(): Promise<boolean> {
    return true;
  }

  async startProcesses(): Promise<boolean> {
    const [command, ...args] = this.options.argv;
    const proc = this.ctx.supervisor.add({
      name: this.options.name ?? basename(command),
      command,
      args,
      restart: this.options.restart,
      output: this.options.output,
      stopTimeoutMs: this.config.EXEC_STOP_TIMEOUT,
      leftoverGraceMs: this.config.EXEC_STOP_TIMEOUT,
      // A drop-in init passes the environment on, as tini does (less PodServe's own variables).
      inheritEnvironment: true,
    });
    this.proc = proc;
    proc.on('exit', (exit) => {
      if (exit.willRestart || proc.state === 'stopping') return;
      // A restart policy that gave up is the supervisor's verdict, not the command's: exit 75
      // (as for any critical process) tells "kept crashing" apart from "exited with 1".
      if (exit.crashLoop) this.finish(ExitCode.criticalProcessFailed);
      else if (exit.code === null && exit.signal === null) this.finish(EXEC_SPAWN_FAILED);
      else this.finish(exitCodeOf(exit.code, exit.signal));
    });
    proc.start();
    return true;
  }

  private runningAtStop = false;

  override async stop(signal: HandledSignal | null): Promise<void> {
    this.runningAtStop = this.proc?.pid !== null && this.proc?.pid !== undefined;
    // tini forwards the very signal it got; SIGINT stays SIGINT for the command.
    await this.proc?.stop(signal ?? undefined);
  }

  override async reload(): Promise<boolean> {
    return this.proc?.signal('SIGHUP') ?? false;
  }

  override onSignal(signal: HandledSignal): void {
    this.proc?.signal(signal);
  }

  /** Like tini: every signal reaches the command, a second one during the stop too. */
  override onSignalWhileStopping(signal: HandledSignal): void {
    this.proc?.signal(signal);
  }

  override exitCodeAfterStop(): number {
    // Stopped between restarts (in backoff): nothing was running, so the stop itself succeeded.
    const exit = this.proc?.lastExit;
    return this.runningAtStop && exit ? exitCodeOf(exit.code, exit.signal) : 0;
  }
}

export function execDefinition(options: ExecOptions): ServiceDefinition<typeof execEnv> {
  return defineService({
    name: 'exec',
    summary: 'supervise any command as init: signals, reaping, restart policy, exit code',
    modes: ['exec'],
    env: execEnv,
    control: false,
    create: (ctx) => new ExecService(ctx, options),
  });
}
