import { basename } from 'node:path';
import { defineEnv } from '../config/env.js';
import { exitCodeOf } from '../exit-codes.js';
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

/**
 * `node dist/main.js exec -- CMD`: the runtime as a drop-in init for any image, like
 * tini: signals forwarded, orphans reaped, the command's exit code passed on.
 */
class ExecService extends BaseService<Record<string, never>> {
  private proc: SupervisedProcess | null = null;

  constructor(
    ctx: ServiceContext<Record<string, never>>,
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
      stopTimeoutMs: 10_000,
    });
    this.proc = proc;
    proc.on('exit', (exit) => {
      if (!exit.willRestart && proc.state !== 'stopping') {
        this.finish(
          exit.code === null && exit.signal === null ? EXEC_SPAWN_FAILED : exitCodeOf(exit.code, exit.signal),
        );
      }
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

  override exitCodeAfterStop(): number {
    // Stopped between restarts (in backoff): nothing was running, so the stop itself succeeded.
    const exit = this.proc?.lastExit;
    return this.runningAtStop && exit ? exitCodeOf(exit.code, exit.signal) : 0;
  }
}

export function execDefinition(options: ExecOptions): ServiceDefinition<Record<string, never>> {
  return defineService({
    name: 'exec',
    summary: 'supervise any command as init: signals, reaping, restart policy, exit code',
    modes: ['exec'],
    env: defineEnv({}),
    create: (ctx) => new ExecService(ctx, options),
  });
}
