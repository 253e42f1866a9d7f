import { constants, readFileSync, readlinkSync } from 'node:fs';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../logging/logger.js';
import { errCode } from './errno-hints.js';

interface LockOwner {
  pid: number;
  hostname: string;
  /** Process start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
  startTime: string | null;
  /** /proc/self/ns/pid: a pid only means something inside the same PID namespace. */
  pidNamespace: string | null;
  acquiredAt: string;
}

/** The holder refreshes the lock's mtime this often; a lock not refreshed for STALE_MS is abandoned. */
const HEARTBEAT_MS = 5_000;
/** Lock files this process holds right now: a lock with our own pid is only stale when not in here. */
const heldHere = new Set<string>();
const STALE_MS = 30_000;

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}

function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The comm field (2) may contain spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

function self(): LockOwner {
  return {
    pid: process.pid,
    hostname: hostname(),
    startTime: procStartTime(process.pid),
    pidNamespace: pidNamespace(),
    acquiredAt: new Date().toISOString(),
  };
}

/**
 * Why the lock at hand is abandoned, or null while its holder may be alive. Containers of a
 * pod share the volume and the hostname but not the PID namespace, so a pid is only checked
 * when the namespace matches; otherwise only the heartbeat (mtime) can tell.
 */
function staleReason(path: string, owner: LockOwner | undefined, mtimeMs: number): string | null {
  if (heldHere.has(path)) return null;
  const age = Date.now() - mtimeMs;
  if (age > STALE_MS) return `not refreshed for ${Math.round(age / 1000)} s`;
  if (!owner) return age > HEARTBEAT_MS * 2 ? 'unreadable and not refreshed' : null;
  const me = self();
  if (owner.hostname !== me.hostname || owner.pidNamespace === null || owner.pidNamespace !== me.pidNamespace)
    return null;
  if (owner.pid === process.pid) return 'left by an earlier run with our pid';
  const start = procStartTime(owner.pid);
  if (start === null) return `process ${owner.pid} is gone`;
  if (owner.startTime !== null && start !== owner.startTime) return `pid ${owner.pid} now belongs to another process`;
  return null;
}

/**
 * An O_EXCL lock file with the holder's identity, so two instances sharing a volume (a cron
 * container and an init container, or a restart overlapping the old process) never write the
 * same state at once: the certificates service issues under one, the mail service changes its
 * users under one. A stale lock (holder dead, or heartbeat stopped) is broken.
 */
export class FileLock {
  private heartbeat: NodeJS.Timeout | null = null;
  private held = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    /** What a holder does, for the log line a waiter writes ("issuing"). */
    private readonly work = 'holding it',
  ) {}

  get isHeld(): boolean {
    return this.held;
  }

  /** Acquires the lock, waiting up to `waitMs` for a live holder to finish. */
  async acquire(waitMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + waitMs;
    let reported = false;
    for (;;) {
      signal?.throwIfAborted();
      if (await this.tryCreate()) return;
      const holder = await this.inspect();
      if (holder === 'gone') continue;
      const reason = staleReason(this.path, holder.owner, holder.mtimeMs);
      if (reason !== null) {
        await this.breakStale(holder.owner, holder.ino, reason);
        continue;
      }
      if (!reported) {
        reported = true;
        this.log.info(
          { lock: this.path, holder: holder.owner },
          `another instance (pid ${holder.owner?.pid ?? '?'} on ${holder.owner?.hostname ?? '?'}) is ${this.work}; waiting`,
        );
      }
      if (Date.now() >= deadline) {
        throw new LockBusyError(
          `${this.path} is held by pid ${holder.owner?.pid ?? '?'} on ${holder.owner?.hostname ?? '?'} since ${holder.owner?.acquiredAt ?? '?'}; gave up after ${Math.round(waitMs / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    heldHere.delete(this.path);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await unlink(this.path).catch(() => undefined);
    this.log.debug({ lock: this.path }, 'lock released');
  }

  private async tryCreate(): Promise<boolean> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    } catch (err) {
      if (errCode(err) === 'EEXIST') return false;
      throw err;
    }
    try {
      await handle.writeFile(`${JSON.stringify(self())}\n`);
    } catch (err) {
      // O_EXCL already made it ours; on a full disk the identity is missing but the heartbeat
      // (mtime) still tells others it is alive, and the real failure surfaces where it matters.
      this.log.warn({ lock: this.path, err: (err as Error).message }, 'could not write the lock owner');
    } finally {
      await handle.close();
    }
    this.held = true;
    heldHere.add(this.path);
    this.heartbeat = setInterval(() => {
      const now = new Date();
      void utimes(this.path, now, now).catch(() => undefined);
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    this.log.debug({ lock: this.path }, 'lock acquired');
    return true;
  }

  private async inspect(): Promise<{ owner: LockOwner | undefined; mtimeMs: number; ino: number } | 'gone'> {
    try {
      const [text, st] = await Promise.all([readFile(this.path, 'utf8'), stat(this.path)]);
      let owner: LockOwner | undefined;
      try {
        owner = JSON.parse(text) as LockOwner;
      } catch {
        owner = undefined; // being written right now, or garbage
      }
      return { owner, mtimeMs: st.mtimeMs, ino: st.ino };
    } catch (err) {
      if (errCode(err) === 'ENOENT') return 'gone';
      throw err;
    }
  }

  /**
   * Renames the stale lock to a unique name before removing it: if two instances break it
   * at once, only one rename succeeds, so neither can remove the other's fresh lock.
   */
  private async breakStale(owner: LockOwner | undefined, ino: number, reason: string): Promise<void> {
    const aside = `${this.path}.stale.${process.pid}.${Date.now()}`;
    try {
      await rename(this.path, aside);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return;
      throw err;
    }
    if ((await stat(aside)).ino !== ino) {
      // Someone else broke it first and already holds a fresh lock: put theirs back.
      await link(aside, this.path).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      return;
    }
    await unlink(aside).catch(() => undefined);
    this.log.warn({ lock: this.path, holder: owner, reason }, `removed a stale lock (${reason})`);
  }
}
