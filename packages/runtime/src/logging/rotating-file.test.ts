import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/support/processes.js';
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
