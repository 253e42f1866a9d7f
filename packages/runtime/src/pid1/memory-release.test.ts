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

  it('only trims malloc when node runs without --expose-gc, and says so at debug level', async () => {
    let trims = 0;
    const { logger, records } = memoryLogger();
    const release = new MemoryRelease({ logger, releaseFreedMemory: () => ++trims > 0, intervalMs: 20 });
    release.start();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    release.stop();
    const after = trims;
    expect(after).toBeGreaterThanOrEqual(2); // the first one a second after start, then every interval
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(trims).toBe(after); // stopped
    expect(records.some((r) => String(r.msg).includes('without --expose-gc'))).toBe(true);
  });
});
