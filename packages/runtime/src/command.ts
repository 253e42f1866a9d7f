import { spawn } from 'node:child_process';
import { CommandError } from './errors.js';
import type { Logger } from './logging/logger.js';

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Kill the command (SIGKILL) after this long. Default 60 s: nothing the runtime runs may hang it. */
  timeoutMs?: number;
  /** When false, a non-zero exit is returned instead of thrown. Default true. */
  reject?: boolean;
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
}

export interface CommandResult {
  argv: readonly string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/** Runs commands for services and logs each one when LOG_COMMANDS=true (always at trace). */
export class CommandRunner {
  constructor(
    private readonly logger: Logger,
    private readonly logCommands: boolean,
  ) {}

  async run(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) throw new TypeError('run() needs a command');
    const started = Date.now();
    this.logger.debug({ argv }, `running ${argv.join(' ')}`);
    const result = await new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        uid: options.uid,
        gid: options.gid,
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: options.signal,
        // Its own process group, so a timeout also ends what it started: a background child
        // holding the output pipes would otherwise keep the result pending past the timeout.
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, options.timeoutMs ?? 60_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(
          new CommandError(
            `${argv.join(' ')} could not be run: ${err.message}`,
            argv,
            null,
            null,
            stdout,
            stderr,
            Date.now() - started,
          ),
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          argv,
          exitCode: code,
          signal,
          stdout,
          stderr,
          durationMs: Math.round(Date.now() - started),
          timedOut,
        });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    }).catch((err: unknown) => {
      this.logCommand(err instanceof CommandError ? { argv, error: err.message } : { argv, error: String(err) });
      throw err;
    });

    this.logCommand({
      argv: result.argv,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
      timedOut: result.timedOut,
      stdout: result.stdout,
      stderr: result.stderr,
    });
    if (result.exitCode !== 0 && options.reject !== false) {
      const how = result.timedOut
        ? `timed out after ${options.timeoutMs ?? 60_000} ms`
        : result.signal
          ? `was killed by ${result.signal}`
          : `failed with exit code ${result.exitCode}`;
      const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-10).join('\n');
      throw new CommandError(
        `${argv.join(' ')} ${how}${detail ? `:\n${detail}` : ''}`,
        result.argv,
        result.exitCode,
        result.signal,
        result.stdout,
        result.stderr,
        result.durationMs,
      );
    }
    return result;
  }

  private logCommand(record: Record<string, unknown>): void {
    if (this.logCommands) this.logger.info({ command: record }, 'command finished');
    else this.logger.trace({ command: record }, 'command finished');
  }
}
