import { X509Certificate } from 'node:crypto';
import { CertificateFollower, watchCertificates } from '@podserve/runtime/tls';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { type TestVolume, testVolume } from './test-volume.js';

/**
 * fs.watch as it fails when the host's inotify watch limit is reached (a limit shared by every
 * container on the host): it throws ENOSPC synchronously. Everything else in node:fs is real.
 */
const inotify = vi.hoisted(() => ({ fail: true }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const watch = ((...args: Parameters<typeof fs.watch>) => {
    if (inotify.fail) {
      throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached, watch'), {
        code: 'ENOSPC',
        errno: -28,
        syscall: 'watch',
      });
    }
    return fs.watch(...args);
  }) as typeof fs.watch;
  return { ...fs, default: { ...fs, watch }, watch };
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let volume: TestVolume;
let mem: ReturnType<typeof memoryLogger>;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);

beforeEach(async () => {
  inotify.fail = true;
  mem = memoryLogger();
  volume = await testVolume(mem.logger);
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await volume.remove();
});

describe('watching CERT_PATH when inotify is unavailable (ENOSPC)', () => {
  it('watchCertificates falls back to its periodic re-read, says so once, and rejects nothing', async () => {
    const first = await volume.publish(['example.test']);
    const seen: string[] = [];
    const degraded: string[] = [];
    const errors: Error[] = [];
    const watcher = watchCertificates(volume.certPath, (pair) => void seen.push(pair.generation), {
      emitInitial: true,
      recheckMs: 300,
      onDegraded: (reason) => degraded.push(reason),
      onError: (err) => errors.push(err),
    });
    try {
      await watcher.ready; // resolves: a failed watch is not a failed start
      expect(seen).toEqual([first.generation]);
      expect(degraded).toEqual([`watching ${volume.certPath} by polling every 300 ms: inotify unavailable (ENOSPC)`]);
      expect(watcher.degraded).toBe(degraded[0]);

      const second = await volume.publish(['example.test']);
      await until(() => seen.includes(second.generation), 5_000, 'the new generation, by polling');
      expect(degraded).toHaveLength(1);
      expect(errors).toEqual([]);
      expect(unhandled).toEqual([]);
    } finally {
      await watcher.close();
    }
  });

  it('the follower serves, warns once, names the degraded watch in readiness, and follows a renewal', async () => {
    await volume.publish(['example.test']);
    let serving: string | undefined;
    const fingerprints = new Map<string, string>();
    const follower = new CertificateFollower(
      { certPath: volume.certPath, names: ['example.test'], log: mem.logger, recheckMs: 300 },
      {
        apply: async (pair) => {
          serving = fingerprints.get(pair.generation);
          return true;
        },
        served: async () => serving,
        changed: () => undefined,
      },
    );
    try {
      const pair = await follower.waitForFirst(new AbortController().signal);
      if (!pair) throw new Error('no first pair');
      serving = new X509Certificate(pair.cert).fingerprint256;
      expect(await follower.started(pair)).toBe(true);
      const polling = `watching ${volume.certPath} by polling every 300 ms: inotify unavailable (ENOSPC)`;
      expect(follower.health()).toEqual({
        ok: true,
        reason: `serving certificate generation ${pair.generation}; ${polling}`,
      });
      expect(follower.details().watching).toBe(polling);

      const renewed = await volume.publish(['example.test']);
      fingerprints.set(renewed.generation, renewed.fingerprint);
      await until(() => follower.details().servedGeneration === renewed.generation, 5_000, 'the renewal served');
      const warnings = mem.records.filter((r) => r.level === 40).map((r) => r.msg);
      expect(warnings).toEqual([`certificate changes are found late: ${polling}`]);
      expect(unhandled).toEqual([]);
    } finally {
      await follower.close();
    }
  });
});
