import { EventEmitter } from 'node:events';
import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import { recordsIn } from './rotating-file.js';

/**
 * stdout for PID 1's log records, never blocking the event loop on a slow reader (podman's
 * conmon, `kubectl logs`, a paused terminal): records are written with non-blocking writes,
 * and what the pipe cannot take now waits in a queue that a timer retries, up to
 * `maxQueuedBytes`; past that, records are dropped and counted instead of stalling signal
 * handling, reaping and probes.
 *
 * The non-blocking descriptor is a second open of the same pipe (/proc/self/fd/1): setting
 * O_NONBLOCK on fd 1 itself would change it for every process sharing it (an `exec` command
 * writing raw to the same stdout would start seeing EAGAIN). Not the thread pool (sonic-boom's
 * asynchronous mode, fs.write): a write blocked in a worker thread keeps the process from
 * exiting, since Node joins its threads at exit. A stdout that cannot be opened again (a
 * socket) is written synchronously, as before.
 */
export class StdoutWriter extends EventEmitter {
  private readonly fd: number;
  private readonly nonBlocking: boolean;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private retry: NodeJS.Timeout | null = null;
  private waiters: Array<() => void> = [];
  /** Records dropped because the queue was full, since the last report. */
  dropped = 0;

  /** An EventEmitter only because pino-pretty, writing into it, listens for stream events. */
  constructor(
    fd: number,
    private readonly maxQueuedBytes = 16 * 1024 * 1024,
  ) {
    super();
    const reopened = reopenNonBlocking(fd);
    this.fd = reopened ?? fd;
    this.nonBlocking = reopened !== undefined;
  }

  /** pino's multistream calls this with one record (one JSON line). */
  write(chunk: string): boolean {
    const data = Buffer.from(chunk);
    if (!this.nonBlocking) {
      writeFully(this.fd, data);
      return true;
    }
    if (this.queue.length > 0) return this.enqueue(data);
    const written = tryWrite(this.fd, data);
    if (written < data.length) this.enqueue(data.subarray(written));
    return true;
  }

  /** Resolves once everything queued has been written (or after `timeoutMs`). */
  drain(timeoutMs = 2_000): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** What can still be written now, for an exit that cannot wait. */
  flushSync(): void {
    this.flushQueue();
  }

  private enqueue(data: Buffer): boolean {
    if (this.queuedBytes + data.length > this.maxQueuedBytes) {
      this.dropped += recordsIn(data.toString());
      return false;
    }
    this.queue.push(data);
    this.queuedBytes += data.length;
    this.retry ??= setTimeout(() => this.retryQueue(), 10);
    return true;
  }

  private retryQueue(): void {
    this.retry = null;
    this.flushQueue();
    if (this.queue.length > 0) this.retry = setTimeout(() => this.retryQueue(), 10);
    else for (const done of this.waiters.splice(0)) done();
  }

  private flushQueue(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      const written = tryWrite(this.fd, head);
      this.queuedBytes -= written;
      if (written < head.length) {
        this.queue[0] = head.subarray(written);
        return;
      }
      this.queue.shift();
    }
  }
}

/** A second, non-blocking open of a pipe or terminal; undefined for anything else. */
function reopenNonBlocking(fd: number): number | undefined {
  try {
    const st = fstatSync(fd);
    if (!st.isFIFO() && !st.isCharacterDevice()) return undefined;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
}

/** Bytes written without blocking: 0 when the pipe is full (EAGAIN) or gone. */
function tryWrite(fd: number, data: Buffer): number {
  try {
    return writeSync(fd, data);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    return data.length; // EPIPE: the reader is gone; nothing to keep
  }
}

function writeFully(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}
