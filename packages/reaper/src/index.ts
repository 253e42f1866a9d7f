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
    typeof v.releaseFreedMemory === 'function'
  );
}

/** Loads the native addon; returns null (never throws) when no candidate loads. */
export function loadReaper(): ReaperAddon | null {
  let require: NodeJS.Require;
  let urls: URL[];
  try {
    require = createRequire(import.meta.url);
    urls = candidates();
  } catch {
    return null; // e.g. import.meta.url is not a hierarchical (file:) URL
  }
  for (const url of urls) {
    try {
      const mod: unknown = require(fileURLToPath(url));
      if (isReaperAddon(mod)) return mod;
    } catch {
      // Missing, wrong ABI/arch, or not a file: URL — try the next candidate.
    }
  }
  return null;
}
