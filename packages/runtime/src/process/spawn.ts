import { requireReaper } from '@podserve/reaper';
import { signalName } from '../exit-codes.js';
import { forgetLibuvChild, rememberLibuvChild } from './own-children.js';

export interface SpawnOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Its own session and process group (setsid), so one kill(-pid) reaches all it starts. */
  detached: boolean;
  /** 'ignore' is /dev/null; `{ input }` is written to a pipe, which is then closed. */
  stdin: 'ignore' | 'inherit' | { input: string | Uint8Array };
  /** 'pipe' hands every chunk of stdout and stderr to onOutput. */
  output: 'pipe' | 'inherit' | 'ignore';
  /** A chunk of output; null once that stream has ended. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer | null) => void;
}

export interface ExitStatus {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly pid: number;
  /** Null while it runs. */
  readonly exitStatus: ExitStatus | null;
  /** Settles once it has exited and been reaped. */
  readonly exited: Promise<ExitStatus>;
  /** Settles once it has exited and its piped output has ended: every chunk has been delivered. */
  readonly closed: Promise<ExitStatus>;
}

/**
 * Starts a child through the native addon's uv_spawn() rather than node:child_process,
 * whose module graph (net, dgram, streams) would cost the supervisor ~2 MB of RSS for
 * its whole life. Throws, with `code` (ENOENT, EACCES, …), when the command cannot start.
 */
export function spawnChild(options: SpawnOptions): Child {
  let status: ExitStatus | null = null;
  let openOutputs = options.output === 'pipe' ? 2 : 0;
  let settleExited: (s: ExitStatus) => void = () => undefined;
  let settleClosed: (s: ExitStatus) => void = () => undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    settleExited = resolve;
  });
  const closed = new Promise<ExitStatus>((resolve) => {
    settleClosed = resolve;
  });
  const closeWhenDone = () => {
    if (status !== null && openOutputs === 0) settleClosed(status);
  };
  const input = typeof options.stdin === 'object' ? Buffer.from(options.stdin.input) : undefined;

  const pid = requireReaper().spawn({
    file: options.command,
    args: options.args,
    env: environmentStrings(options.env),
    cwd: options.cwd,
    uid: options.uid,
    gid: options.gid,
    detached: options.detached,
    stdin: input ? 'pipe' : (options.stdin as 'ignore' | 'inherit'),
    stdout: options.output,
    stderr: options.output,
    input,
    onOutput: (fd, chunk) => {
      try {
        options.onOutput?.(fd === 1 ? 'stdout' : 'stderr', chunk);
      } finally {
        if (chunk === null) {
          openOutputs -= 1;
          closeWhenDone();
        }
      }
    },
    onExit: (exitStatus, termSignal) => {
      forgetLibuvChild(pid);
      status = termSignal !== 0 ? { code: null, signal: signalName(termSignal) } : { code: exitStatus, signal: null };
      settleExited(status);
      closeWhenDone();
    },
  });
  // No JS runs between uv_spawn() and here, so no orphan sweep can see the pid unregistered.
  rememberLibuvChild(pid);
  return {
    pid,
    get exitStatus() {
      return status;
    },
    exited,
    closed,
  };
}

function environmentStrings(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out.push(`${name}=${value}`);
  return out;
}
