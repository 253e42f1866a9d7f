import type { Logger } from '../logging/logger.js';

/** How often a ready service gives memory back. */
export const RELEASE_INTERVAL_MS = 30_000;

/** `gc` as `node --expose-gc` defines it (the images' entrypoint passes the flag). */
type ExposedGc = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

export interface MemoryReleaseOptions {
  /** glibc's malloc_trim(0) through the native addon. */
  releaseFreedMemory(): boolean;
  /** A full collection; undefined when node runs without --expose-gc (then only malloc is trimmed). */
  gc?: ExposedGc;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Keeps a long-running, mostly idle PID 1 at the memory it actually uses. Two things hold on to
 * memory it no longer needs:
 * - V8's old generation. The supervisor allocates little, so objects that survive two young
 *   collections (log records still in the ring, a renewal's or a reload's state) are promoted
 *   and later die there, but the next full collection waits until the old generation reaches a
 *   limit that such a slow trickle takes hours to reach: a soak measured the dns service's PID 1
 *   growing 0.1–0.3 MB a minute for an hour without one. V8's own memory reducer runs only after
 *   a full collection, so it never starts either.
 * - glibc's arenas, where V8's compiler and GC free malloc memory all along.
 * So, every interval: a full collection in a task of its own (a pause of 10–20 ms for a 6–10 MB
 * heap; PID 1 is not on the daemons' request path), then malloc_trim once it is done.
 */
export class MemoryRelease {
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private collecting = false;
  private stopped = false;
  private readonly gc: ExposedGc | undefined;

  constructor(private readonly options: MemoryReleaseOptions) {
    this.gc = options.gc;
  }

  /** Starts releasing: once a second from now (start-up garbage is behind us), then every interval. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.options.logger.debug(
      { intervalMs: this.interval, fullCollections: this.gc !== undefined },
      this.gc
        ? 'memory release: a full collection and malloc_trim every interval'
        : 'memory release: malloc_trim every interval (node runs without --expose-gc: no full collections)',
    );
    this.first = setTimeout(() => this.trim(), 1_000);
    this.first.unref();
    this.timer = setInterval(() => void this.release(), this.interval);
    this.timer.unref();
  }

  /** No release starts after this, and one in flight ends without trimming. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.first);
    clearInterval(this.timer);
    this.first = undefined;
    this.timer = undefined;
  }

  /** One full collection (when available) followed by malloc_trim; resolves when both are done. */
  async release(): Promise<void> {
    if (this.collecting) return;
    this.collecting = true;
    try {
      if (this.gc) await this.gc({ type: 'major', execution: 'async' });
      if (!this.stopped) this.trim();
    } catch (err) {
      this.options.logger.debug({ err }, 'memory release failed');
    } finally {
      this.collecting = false;
    }
  }

  private trim(): void {
    try {
      this.options.releaseFreedMemory();
    } catch (err) {
      this.options.logger.debug({ err }, 'memory release: malloc_trim failed');
    }
  }

  private get interval(): number {
    return this.options.intervalMs ?? RELEASE_INTERVAL_MS;
  }
}

/** The `gc` function node defines with --expose-gc, if it does. */
export function exposedGc(): ExposedGc | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as ExposedGc) : undefined;
}
