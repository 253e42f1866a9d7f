import { accessSync, constants } from 'node:fs';
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
  /**
   * An sd_notify receiver (src/notify.c): binds an AF_UNIX datagram socket, the address a daemon
   * is given in `NOTIFY_SOCKET`, and calls `onMessage` on the main thread for every datagram.
   *
   * - `path` starting with `@` is a name in Linux's abstract namespace (no file; gone with the
   *   socket). Any other path is a file: a stale socket already there is removed first (any
   *   other kind of file makes bind fail). The file gets the mode the umask allows; chmod it if
   *   daemons running as other users must send to it.
   * - `message` is the datagram as UTF-8 text, e.g. `READY=1\nSTATUS=running\nMAINPID=42\n`,
   *   unparsed. Datagrams over 64 KiB are dropped; file descriptors passed along (SCM_RIGHTS,
   *   the systemd fd store) are closed at once.
   * - `senderPid` is the sender's pid as the kernel checked it (SCM_CREDENTIALS: only a privileged
   *   sender may claim another), or null when there is none (e.g. a sender outside our pid namespace).
   *
   * An open listener does not keep the event loop alive (its handle is unref'd): the caller keeps
   * the process running. `close()` stops delivery at once, closes the socket and removes its file
   * (not for `@` names); it is idempotent, and may be called from inside `onMessage`. A listener
   * that is never closed stays open until the process exits, and its file stays behind.
   * An exception thrown by `onMessage` becomes an uncaughtException.
   * Throws an Error with `code` (EADDRINUSE, EACCES, ENAMETOOLONG, …), `errno`, `syscall`
   * (`socket`, `bind`, `setsockopt`) and `path` when the socket cannot be made; a TypeError for
   * bad arguments. Main thread only.
   */
  listenNotify(path: string, onMessage: (message: string, senderPid: number | null) => void): NotifyListener;
  /**
   * getsockopt(fd, SO_PEERCRED) on a connected Unix socket: the peer's pid, uid and gid as the
   * kernel recorded them at connect() (pid 0 for a peer in a pid namespace this one cannot see).
   * Throws an Error naming the fd and errno when the fd is not such a socket.
   */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
}

/** An open sd_notify socket (see ReaperAddon.listenNotify). */
export interface NotifyListener {
  /** Stops delivery, closes the socket and unlinks its file (not for `@` names). Idempotent. */
  close(): void;
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
    typeof v.spawn === 'function' &&
    typeof v.listenNotify === 'function' &&
    typeof v.peerCredentials === 'function'
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

/**
 * Where the `podserve-setuid` helper (src/setuid.c) may live, in the same order as the addon:
 * beside the running module (dist/podserve-setuid once bundled, copied there by the bundle step),
 * then `../build/Release/podserve-setuid` relative to this source file.
 */
const setuidCandidates = (): URL[] => [
  new URL('./podserve-setuid', import.meta.url),
  new URL('../build/Release/podserve-setuid', import.meta.url),
];

let setuidHelper: string | undefined;

/**
 * The absolute path of `podserve-setuid`, an executable that drops root like a login and then
 * execs the command in place (same pid):
 *
 *     podserve-setuid UID GID USERNAME|- -- FILE [ARGS...]
 *
 * It sets the supplementary groups with initgroups(USERNAME, GID) (`-`: the passwd entry of UID;
 * without one, GID alone), then setgid(GID) and setuid(UID), checks that setuid(0) now fails, and
 * execvp()s FILE with ARGS (argv[0] is FILE). Spawn it as root *without* uid/gid: uv_spawn's own
 * switch calls setgroups(0) and would cost the daemon its supplementary groups (e.g. `certgroup`
 * to read a private key), which is what this helper exists to avoid.
 * On failure it prints `podserve-setuid: <what failed>: <strerror>` to stderr and exits 126, or
 * 127 when execvp reports ENOENT. (Unlike a shell, execvp reports EACCES, so 126, for a FILE found
 * nowhere on PATH when one of PATH's directories is not searchable by the new user.)
 *
 * Throws an Error naming every place it looked when the helper is missing (run `npm run build`).
 */
export function setuidHelperPath(): string {
  if (setuidHelper) return setuidHelper;
  const failures: string[] = [];
  let urls: URL[];
  try {
    urls = setuidCandidates();
  } catch (err) {
    throw new Error(`podserve-setuid: no file location to look from: ${String(err)}`);
  }
  for (const url of urls) {
    const path = fileURLToPath(url);
    try {
      accessSync(path, constants.X_OK);
      setuidHelper = path;
      return path;
    } catch (err) {
      failures.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  throw new Error(
    `PodServe's podserve-setuid helper was not found or is not executable; run \`npm run build\` to build it.\n  ${failures.join('\n  ')}`,
  );
}
