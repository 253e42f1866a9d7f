import { accessSync, constants } from 'node:fs';
import { requireReaper, setuidHelperPath } from '@podserve/reaper';
import { signalName } from '../exit-codes.js';
import { forgetLibuvChild, rememberLibuvChild } from './own-children.js';

export interface SpawnOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Run as this user: uid, gid and the user's supplementary groups from the group database.
   * libuv's own uid/gid drops every supplementary group (setgroups(0)), so a daemon in
   * `certgroup` could not read its key: the child is started through podserve-setuid instead.
   */
  user?: { uid: number; gid: number; name?: string };
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

  // Through the helper a missing command would only show as exit 127: say it here, as uv_spawn would.
  if (options.user) assertExecutable(options.command, options.env.PATH, options.cwd);
  const [file, args] = options.user
    ? [
        setuidHelperPath(),
        [
          String(options.user.uid),
          String(options.user.gid),
          options.user.name ?? '-',
          '--',
          options.command,
          ...options.args,
        ],
      ]
    : [options.command, options.args];
  const pid = requireReaper().spawn({
    file,
    args,
    env: environmentStrings(options.env),
    cwd: options.cwd,
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

/** Throws the error uv_spawn would (ENOENT or EACCES, child_process wording) when `command` cannot run. */
function assertExecutable(command: string, path: string | undefined, cwd: string | undefined): void {
  const candidates = command.includes('/')
    ? [command.startsWith('/') ? command : `${cwd ?? process.cwd()}/${command}`]
    : (path ?? '')
        .split(':')
        .filter(Boolean)
        .map((dir) => `${dir}/${command}`);
  let code = 'ENOENT';
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') code = 'EACCES';
    }
  }
  throw Object.assign(new Error(`spawn ${command} ${code}`), { code, syscall: `spawn ${command}`, path: command });
}
