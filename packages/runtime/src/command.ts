import { CommandError, errorMessage } from './errors.js';
import { primaryGid, userName } from './files/users.js';
import type { Logger } from './logging/logger.js';
import { type Child, type SpawnOptions, spawnChild } from './process/spawn.js';
import { childEnvironment } from './supervisor/child-environment.js';

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

/** uid/gid as spawn wants them: the user's primary group when no gid is given, and its name for initgroups. */
export function runAs(uid: number | undefined, gid: number | undefined): SpawnOptions['user'] {
  if (uid === undefined && gid === undefined) return undefined;
  const user = uid ?? 0;
  return { uid: user, gid: gid ?? primaryGid(user) ?? user, name: userName(user) };
}

/** How long output may still arrive after the command has exited. */
const OUTPUT_GRACE_MS = 1_000;
/** An aborted command gets SIGTERM, then SIGKILL this much later. */
const ABORT_KILL_AFTER_MS = 5_000;

/**
 * Runs commands for services and logs each one when LOG_COMMANDS=true (always at trace).
 * What a command prints is scrubbed of configured secrets before anyone sees it: a tool
 * that echoes its input (nsupdate repeats a bad key line) must not carry a secret into an
 * error message, a log record or a state file.
 */
export class CommandRunner {
  constructor(
    private readonly logger: Logger,
    private readonly logCommands: boolean,
    private readonly redact: (text: string) => string = (text) => text,
  ) {}

  async run(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    if (argv[0] === undefined) throw new TypeError('run() needs a command');
    this.logger.debug({ argv }, `running ${argv.join(' ')}`);
    const result = await this.execute(argv, options).catch((err: unknown) => {
      this.logCommand({ argv, error: errorMessage(err) });
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
        this.redact(`${argv.join(' ')} ${how}${detail ? `:\n${detail}` : ''}`),
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

  private async execute(argv: readonly string[], options: CommandOptions): Promise<CommandResult> {
    const [file = '', ...args] = argv;
    const started = Date.now();
    const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    let collecting = true;
    let child: Child;
    try {
      child = spawnChild({
        command: file,
        args,
        cwd: options.cwd,
        // Like supervised children: the basics, not the runtime's variables and secrets.
        env: options.env ?? childEnvironment({}),
        user: runAs(options.uid, options.gid),
        stdin: { input: options.input ?? '' },
        output: 'pipe',
        onOutput: (stream, chunk) => {
          if (chunk && collecting) output[stream].push(chunk);
        },
        // Its own process group, so a timeout or an abort also ends what it started.
        detached: true,
      });
    } catch (err) {
      throw new CommandError(
        this.redact(`${argv.join(' ')} could not be run: ${errorMessage(err)}`),
        argv,
        null,
        null,
        '',
        '',
        0,
      );
    }
    const collected = (stream: 'stdout' | 'stderr') => this.redact(Buffer.concat(output[stream]).toString('utf8'));
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), ABORT_KILL_AFTER_MS).unref();
        // What it printed until then often says why it was slow: keep it on the error.
        reject(
          new CommandError(
            this.redact(`${argv.join(' ')} was aborted`),
            argv,
            null,
            null,
            collected('stdout'),
            collected('stderr'),
            Date.now() - started,
          ),
        );
      };
    });
    aborted.catch(() => undefined);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    try {
      const { code, signal } = await Promise.race([child.exited, aborted]);
      // Output normally ends with the process. A daemon it started may hold the pipes open for
      // its whole life, though (and one that called setsid escapes the group kill): the result
      // does not wait for that.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([child.closed, new Promise((resolve) => (grace = setTimeout(resolve, OUTPUT_GRACE_MS)))]);
      clearTimeout(grace);
      return {
        argv,
        exitCode: code,
        signal,
        stdout: collected('stdout'),
        stderr: collected('stderr'),
        durationMs: Math.round(Date.now() - started),
        timedOut,
      };
    } finally {
      collecting = false;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private logCommand(record: Record<string, unknown>): void {
    if (this.logCommands) this.logger.info({ command: record }, 'command finished');
    else this.logger.trace({ command: record }, 'command finished');
  }
}
