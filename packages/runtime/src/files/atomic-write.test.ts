import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/support/processes.js';
import { writeFileAtomic } from './atomic-write.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  chmodSync(dir.path, 0o755);
  dir.cleanup();
});

describe('writeFileAtomic', () => {
  it('sets mode and owner exactly, whatever the umask, and leaves no temp file', async () => {
    const path = join(dir.path, 'key.pem');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'secret\n', { mode: 0o640, uid: 0, gid: 9999 });
    } finally {
      process.umask(old);
    }
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o640);
    expect([st.uid, st.gid]).toEqual([0, 9999]);
    expect(readFileSync(path, 'utf8')).toBe('secret\n');
    expect(readdirSync(dir.path)).toEqual(['key.pem']);
  });

  it('keeps the old file intact and cleans up when the write fails', async () => {
    const path = join(dir.path, 'app.conf');
    writeFileSync(path, 'old\n');
    // A uid that cannot be set makes fchown fail after the temp file has content.
    await expect(writeFileAtomic(path, 'new\n', { uid: -2 })).rejects.toThrow();
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(readdirSync(dir.path)).toEqual(['app.conf']);
  });

  it('never lets a concurrent reader see a partly written file', async () => {
    const path = join(dir.path, 'big');
    const a = 'a'.repeat(512 * 1024);
    const b = 'b'.repeat(512 * 1024);
    writeFileSync(path, a);
    // A reader on another thread, so reads really interleave with the writes.
    const reader = new Worker(
      `const { readFileSync } = require('node:fs'); const { parentPort, workerData } = require('node:worker_threads');
       let reads = 0, torn = 0, stop = false; parentPort.on('message', () => { stop = true; });
       (function loop() { for (let i = 0; i < 50; i++) { const t = readFileSync(workerData, 'latin1');
         if (t.length !== 524288 || t[0] !== t[t.length - 1]) torn++; reads++; }
         if (stop) parentPort.postMessage({ reads, torn }); else setImmediate(loop); })();`,
      { eval: true, workerData: path },
    );
    for (let i = 0; i < 200; i++) await writeFileAtomic(path, i % 2 ? a : b);
    const result = await new Promise<{ reads: number; torn: number }>((resolve) => {
      reader.once('message', resolve);
      reader.postMessage('stop');
    });
    await reader.terminate();
    expect(result.reads).toBeGreaterThan(100);
    expect(result.torn).toBe(0);
  });
});
