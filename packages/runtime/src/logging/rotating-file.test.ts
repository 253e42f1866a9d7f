import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/support/processes.js';
import { createLogger } from './logger.js';
import { RotatingFile } from './rotating-file.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('podserve-rotate-');
});
afterEach(() => dir.cleanup());

describe('RotatingFile', () => {
  it('rotates at the size cap, shifts older files and deletes beyond keep, losing no line', () => {
    const path = join(dir.path, 'svc.log');
    const file = new RotatingFile(path, 1_000, 2);
    const line = (i: number) => `${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`;
    for (let i = 0; i < 40; i++) file.write(line(i));
    file.flushSync();
    const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
    expect(existsSync(`${path}.3`)).toBe(false); // keep = 2
    for (const p of [path, `${path}.1`, `${path}.2`])
      expect(read(p).length).toBeLessThanOrEqual(1_000 + line(0).length);
    // The newest lines are in the current file and .1, .2, in order, with nothing lost between them.
    const kept = [read(`${path}.2`), read(`${path}.1`), read(path)]
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).i);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 40 - kept.length + k));
    expect(kept.length).toBeGreaterThan(20);
  });
});

// A full log volume (the 1 MB tmpfs filled with dd): mounting needs root, as the
// PID-namespace tests do; fail rather than skip elsewhere.
describe('RotatingFile on a full volume', () => {
  it('drops records without blocking or throwing, warns once, and resumes when space is freed', async () => {
    expect(process.getuid?.(), 'this test mounts a tmpfs and needs root').toBe(0);
    const mount = join(dir.path, 'logs');
    mkdirSync(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
    try {
      const records: Array<Record<string, unknown>> = [];
      const devNull = openSync('/dev/null', 'w');
      const handle = await createLogger({
        service: 'svc',
        level: 'info',
        format: 'json',
        logDir: mount,
        logFile: { maxBytes: 10 * 1024 * 1024, keep: 1, retryMs: 200 },
        stdoutFd: devNull,
        extraStream: { write: (line: string) => records.push(JSON.parse(line)) },
      });
      // Fill the volume the way dd would, leaving no block free.
      const filler = join(mount, 'filler');
      const fd = openSync(filler, 'w');
      try {
        for (;;) writeSync(fd, Buffer.alloc(4096, 1));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      closeSync(fd);

      const started = Date.now();
      for (let i = 0; i < 200; i++) handle.logger.info({ i, pad: 'x'.repeat(200) }, 'request served');
      // SonicBoom slept 100 ms per failed write here (20 s for 200 records).
      expect(Date.now() - started).toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 50));
      const warnings = records.filter((r) => String(r.msg).startsWith('cannot write the log file'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 'warn', err: 'ENOSPC' });

      rmSync(filler);
      await new Promise((r) => setTimeout(r, 300));
      handle.logger.info('after the space was freed');
      await new Promise((r) => setTimeout(r, 50));
      const resumed = records.find((r) => String(r.msg).includes('is writable again'));
      expect(resumed?.lost).toBeGreaterThan(0);
      const file = readFileSync(join(mount, 'svc', 'svc.log'), 'utf8');
      expect(file).toContain('after the space was freed');
      // Every line in the file is whole JSON, even after a write cut short by ENOSPC.
      for (const line of file.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
      await handle.drain();
      closeSync(devNull);
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });
});
