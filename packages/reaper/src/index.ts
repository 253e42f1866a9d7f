import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Exit status of a reaped child; exactly one of `code`/`signal` is non-null. */
export interface ReapedChild {
  pid: number;
  /** Exit code when the child exited normally (WIFEXITED), else null. */
  code: number | null;
  /** Terminating signal number when killed by a signal (WIFSIGNALED), else null. */
  signal: number | null;
}

/** The native reaper addon (src/reaper.c). */
export interface ReaperAddon {
  /**
   * waitpid(pid, WNOHANG) for exactly one pid (> 0; anything else throws a RangeError,
   * so this can never become waitpid(-1) and steal libuv's children).
   * Returns null when the child is still running, or is not (or no longer) our child (ECHILD).
   * Throws an Error carrying the errno text on any other failure.
   */
  waitpidNoHang(pid: number): ReapedChild | null;
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of our descendants are reparented to us. True on success. */
  setChildSubreaper(): boolean;
  /** malloc_trim(0): returns freed heap memory to the OS (glibc only). True if anything was released. */
  releaseFreedMemory(): boolean;
  /**
   * uv_spawn() without node:child_process (src/spawn.c). Returns the pid; throws an Error with
   * `code` (ENOENT, EACCES, …), `errno`, `syscall` and `path` when the command cannot start.
   */
  spawn(options: NativeSpawnOptions): number;
}

export type NativeStdio = 'ignore' | 'inherit' | 'pipe';

export interface NativeSpawnOptions {
  file: string;
  /** Arguments after the file name (argv[0] is the file). */
  args: readonly string[];
  /** The whole environment as `NAME=value` strings. */
  env: readonly string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  /** setsid(): its own session and process group. */
  detached: boolean;
  /** 'pipe' writes `input` (if any) to the child's stdin, then closes it. */
  stdin: NativeStdio;
  stdout: NativeStdio;
  stderr: NativeStdio;
  input?: Buffer;
  /** A chunk of stdout (1) or stderr (2); null once that stream has ended. */
  onOutput(fd: 1 | 2, chunk: Buffer | null): void;
  /** After libuv has reaped the child: exit status, and the signal that ended it (0 if none). */
  onExit(exitStatus: number, termSignal: number): void;
}

/**
 * Where the compiled addon may live, in order:
 *  1. `reaper.node` beside the running module. Once esbuild inlines this file into dist/main.js,
 *     import.meta.url is dist/main.js, so this is dist/reaper.node (copied there by the bundle step).
 *  2. `../build/Release/reaper.node` relative to this source file (running from source / tests).
 */
const candidates = (): URL[] => [
  new URL('./reaper.node', import.meta.url),
  new URL('../build/Release/reaper.node', import.meta.url),
];

function isReaperAddon(value: unknown): value is ReaperAddon {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.waitpidNoHang === 'function' &&
    typeof v.setChildSubreaper === 'function' &&
    typeof v.releaseFreedMemory === 'function' &&
    typeof v.spawn === 'function'
  );
}

let loaded: { addon: ReaperAddon } | { failures: string[] } | undefined;

/** Loads the native addon once; returns null (never throws) when no candidate loads. */
export function loadReaper(): ReaperAddon | null {
  loaded ??= tryLoad();
  return 'addon' in loaded ? loaded.addon : null;
}

/** Like loadReaper(), but says where it looked and why each candidate failed. */
export function requireReaper(): ReaperAddon {
  const addon = loadReaper();
  if (addon) return addon;
  const failures = loaded && 'failures' in loaded ? loaded.failures : [];
  throw new Error(
    `PodServe's native addon (reaper.node) could not be loaded; run \`npm run build\` to build it.\n  ${failures.join('\n  ')}`,
  );
}

function tryLoad(): { addon: ReaperAddon } | { failures: string[] } {
  let require: NodeJS.Require;
  let urls: URL[];
  try {
    require = createRequire(import.meta.url);
    urls = candidates();
  } catch (err) {
    return { failures: [`no file location to load from: ${String(err)}`] }; // not a file: URL
  }
  const failures: string[] = [];
  for (const url of urls) {
    try {
      const mod: unknown = require(fileURLToPath(url));
      if (isReaperAddon(mod)) return { addon: mod };
      failures.push(`${fileURLToPath(url)}: not PodServe's addon (an older build?)`);
    } catch (err) {
      // Missing, wrong ABI/arch: try the next candidate.
      failures.push(`${fileURLToPath(url)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { failures };
}
