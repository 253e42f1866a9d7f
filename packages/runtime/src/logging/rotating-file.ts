import { closeSync, constants, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** What the log file tells its owner; called on a later tick, never inside a write. */
export interface FileSinkEvents {
  /** Writing failed (ENOSPC, EIO, EROFS, …): records are dropped until a retry succeeds. */
  suspended(path: string, err: NodeJS.ErrnoException, retryMs: number): void;
  /** Writing works again; `lost` records were not written meanwhile (stdout had them all). */
  resumed(path: string, lost: number): void;
}

const APPEND = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

/**
 * The service's log file, capped: once it reaches `maxBytes` it is renamed to `.1` (older
 * ones shift to `.2` …, beyond `keep` they are deleted) and a new file is opened. A PID 1
 * runs for months; a log volume that fills up takes every service on it down with it.
 *
 * It never throws and never waits: a failed write (a full or broken volume) closes the file,
 * reports once through `events`, and drops records until `retryMs` has passed, when the file
 * is opened and tried again. Not pino's SonicBoom: in sync mode it sleeps and retries a failed
 * write in a loop on the event loop, and an error it emits later with no listener ends the
 * process. Writes are synchronous (a few hundred bytes to a local file) so a line is on disk
 * before PID 1 exits with process.exit.
 */
export class RotatingFile {
  private fd: number | null = null;
  private size = 0;
  private retryAt = 0;
  private lost = 0;
  /** A write cut short mid-line: the next successful write starts on a new line. */
  private partial = false;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
    private readonly events: FileSinkEvents = { suspended: () => undefined, resumed: () => undefined },
    private readonly retryMs = 30_000,
  ) {
    // The first open may throw: the logger then says once that the file is unusable.
    this.fd = openSync(path, APPEND, 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Records dropped since the file was last writable. */
  get dropped(): number {
    return this.lost;
  }

  get suspended(): boolean {
    return this.fd === null;
  }

  write(line: string): void {
    if (this.fd === null && !this.reopen()) {
      this.lost += recordsIn(line);
      return;
    }
    const data = Buffer.from(this.partial ? `\n${line}` : line);
    let written = 0;
    try {
      while (written < data.length) written += writeSync(this.fd as number, data, written);
    } catch (err) {
      this.size += written;
      if (written > 0) this.partial = true;
      this.suspend(err as NodeJS.ErrnoException);
      this.lost += recordsIn(line);
      return;
    }
    this.partial = false;
    this.size += data.length;
    if (this.lost > 0) {
      const lost = this.lost;
      this.lost = 0;
      setImmediate(() => this.events.resumed(this.path, lost));
    }
    if (this.size >= this.maxBytes) this.rotate();
  }

  /** Writes are synchronous: nothing is buffered. Kept for the logger's flush-before-exit. */
  flushSync(): void {}

  close(): void {
    this.closeFd();
  }

  private suspend(err: NodeJS.ErrnoException): void {
    this.closeFd();
    this.retryAt = Date.now() + this.retryMs;
    setImmediate(() => this.events.suspended(this.path, err, this.retryMs));
  }

  /** At most once per `retryMs`: a full volume must not cost an open() per record. */
  private reopen(): boolean {
    if (Date.now() < this.retryAt) return false;
    try {
      this.fd = openSync(this.path, APPEND, 0o640);
      this.size = fstatSync(this.fd).size;
      return true;
    } catch {
      this.retryAt = Date.now() + this.retryMs;
      return false;
    }
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // EIO on close: the descriptor is gone either way.
    }
    this.fd = null;
  }

  private rotate(): void {
    try {
      rmSync(`${this.path}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        try {
          renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch {
          // That one does not exist yet.
        }
      }
      renameSync(this.path, `${this.path}.1`);
    } catch {
      // Rotation failing must not stop logging: keep writing where we are.
      return;
    }
    this.closeFd();
    this.retryAt = 0;
    this.partial = false;
    this.reopen(); // when it fails, the next write after retryMs tries again
  }
}

/** Records in what the logger wrote at once (one turn's lines, each ending in a newline). */
export function recordsIn(batch: string): number {
  let n = 0;
  for (let i = batch.indexOf('\n'); i !== -1; i = batch.indexOf('\n', i + 1)) n++;
  return Math.max(n, 1);
}
