import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reloadAndConfirm } from './reload-proof.js';

/** A stand-in for the supervised apache: real events, a reload that answers as told. */
class FakeApache extends EventEmitter {
  constructor(private readonly onReload: (self: FakeApache) => boolean) {
    super();
  }
  async reload(): Promise<boolean> {
    return this.onReload(this);
  }
  leftovers(): number {
    return this.listenerCount('line') + this.listenerCount('exit');
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('reloadAndConfirm', () => {
  it('a refused reload leaves no timer and no listener behind', async () => {
    vi.useFakeTimers();
    const proc = new FakeApache(() => false);
    expect(await reloadAndConfirm(proc, 'AH00489', 10_000)).toBe('refused');
    expect(proc.leftovers()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a reload that throws leaves nothing behind either', async () => {
    vi.useFakeTimers();
    const proc = new FakeApache(() => {
      throw new Error('boom');
    });
    await expect(reloadAndConfirm(proc, 'AH00489', 10_000)).rejects.toThrow('boom');
    expect(proc.leftovers()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves once apache says AH00489, even when it says so before reload() returns', async () => {
    vi.useFakeTimers();
    const proc = new FakeApache((self) => {
      self.emit(
        'line',
        'stderr',
        '[mpm_event:notice] [pid 7] AH00489: Apache/2.4 configured -- resuming normal operations',
      );
      return true;
    });
    expect(await reloadAndConfirm(proc, 'AH00489', 10_000)).toBe('resumed');
    expect(proc.leftovers()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an exit instead of AH00489 is not a confirmation', async () => {
    const proc = new FakeApache(() => true);
    const outcome = reloadAndConfirm(proc, 'AH00489', 10_000);
    await new Promise((r) => setImmediate(r));
    proc.emit('line', 'stderr', 'AH00072: make_sock: could not bind to address');
    proc.emit('exit');
    expect(await outcome).toBe('not confirmed');
    expect(proc.leftovers()).toBe(0);
  });

  it('no word within the time allowed is not a confirmation', async () => {
    vi.useFakeTimers();
    const proc = new FakeApache(() => true);
    const outcome = reloadAndConfirm(proc, 'AH00489', 10_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await outcome).toBe('not confirmed');
    expect(proc.leftovers()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
