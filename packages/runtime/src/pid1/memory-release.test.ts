import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../../test/support/memory-logger.js';
import { MemoryRelease } from './memory-release.js';

// The gc that `node --expose-gc` (the images' entrypoint) defines, obtained in this worker.
setFlagsFromString('--expose-gc');
const realGc = runInNewContext('gc') as (options: { type: 'major'; execution: 'async' }) => Promise<void>;

/** An object nothing but a WeakRef holds: garbage that only a collection takes away. */
function garbage(): WeakRef<object> {
  return new WeakRef({ payload: new Array(1_000).fill('x') });
}

describe('MemoryRelease', () => {
  it('runs a full collection, then trims malloc once the collection is done', async () => {
    const order: string[] = [];
    const { logger } = memoryLogger();
    const release = new MemoryRelease({
      logger,
      releaseFreedMemory: () => {
        order.push('trim');
        return true;
      },
      gc: async (options) => {
        order.push('gc');
        await realGc(options);
        order.push('gc done');
      },
    });
    const ref = garbage();
    // A WeakRef's target lives at least until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    await release.release();
    expect(ref.deref()).toBeUndefined();
    expect(order).toEqual(['gc', 'gc done', 'trim']);
  });

  it('runs one collection at a time: a release while one is in flight is skipped', async () => {
    let collections = 0;
    let trims = 0;
    const { logger } = memoryLogger();
    const release = new MemoryRelease({
      logger,
      releaseFreedMemory: () => ++trims > 0,
      gc: async (options) => {
        collections++;
        await realGc(options);
      },
    });
    await Promise.all([release.release(), release.release(), release.release()]);
    expect(collections).toBe(1);
    expect(trims).toBe(1);
  });

  it('ends a release in flight without trimming once stopped', async () => {
    let trims = 0;
    const { logger } = memoryLogger();
    const release = new MemoryRelease({ logger, releaseFreedMemory: () => ++trims > 0, gc: realGc });
    const inFlight = release.release();
    release.stop();
    await inFlight;
    expect(trims).toBe(0);
  });

  it('trims once a second after start, then every interval, and nothing after stop', async () => {
    let trims = 0;
    const { logger } = memoryLogger();
    const release = new MemoryRelease({ logger, releaseFreedMemory: () => ++trims > 0, intervalMs: 60_000 });
    release.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(trims).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(trims).toBe(1); // the first, a second after start; the interval is a minute
    release.stop();

    const every = new MemoryRelease({ logger, releaseFreedMemory: () => ++trims > 0, intervalMs: 50 });
    trims = 0;
    every.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    every.stop();
    const stoppedAt = trims;
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(trims).toBe(stoppedAt); // neither the interval nor the first trim runs after stop
  });

  it('says at debug level when node runs without --expose-gc, so only malloc is trimmed', () => {
    const { logger, records } = memoryLogger();
    const release = new MemoryRelease({ logger, releaseFreedMemory: () => true });
    release.start();
    release.stop();
    const line = records.find((r) => String(r.msg).includes('without --expose-gc'));
    expect(line?.level).toBe(20); // pino's debug
  });
});
