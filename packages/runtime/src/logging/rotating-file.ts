import { renameSync, rmSync, statSync } from 'node:fs';
import pino from 'pino';

/**
 * The service's log file, capped: once it reaches `maxBytes` it is renamed to `.1` (older
 * ones shift to `.2` …, beyond `keep` they are deleted) and a new file is opened. A PID 1
 * runs for months; a log volume that fills up takes every service on it down with it.
 */
export class RotatingFile {
  private readonly dest: ReturnType<typeof pino.destination>;
  private size: number;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    // Synchronous: PID 1 exits with process.exit, and a line still buffered then would be lost.
    this.dest = pino.destination({ dest: path, sync: true, append: true });
    this.size = sizeOf(path);
  }

  write(line: string): void {
    this.dest.write(line);
    this.size += Buffer.byteLength(line);
    if (this.size >= this.maxBytes) this.rotate();
  }

  flushSync(): void {
    this.dest.flushSync();
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
      this.dest.reopen();
    } catch {
      // Rotation failing must not stop logging: keep writing where we are.
    }
    this.size = sizeOf(this.path);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
