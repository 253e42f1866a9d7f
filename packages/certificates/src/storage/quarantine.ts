import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { Logger } from '@podserve/runtime';
import { fsyncDir } from './fsx.js';
import type { Layout } from './layout.js';

let counter = 0;

/**
 * Moves broken material out of the way instead of deleting it: an operator may need the
 * old key (a pinned key, a forensic look), and "the tool deleted my key" is unforgivable.
 * Same filesystem, so it is a rename: it needs no free space, which matters when the
 * volume is full. Returns where the files went.
 */
export async function moveAside(
  layout: Layout,
  paths: readonly string[],
  reason: string,
  log: Logger,
): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dest = join(layout.quarantine, `${stamp}-${process.pid}-${++counter}`);
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const moved: string[] = [];
  for (const path of paths) {
    // Generation dirs keep their id in the name so it is clear which one it was.
    const name = relative(layout.root, path).replaceAll('/', '_') || basename(path);
    try {
      await rename(path, join(dest, name));
      moved.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  await fsyncDir(dest);
  for (const parent of new Set(paths.map((p) => dirname(p)))) await fsyncDir(parent).catch(() => undefined);
  log.warn(
    { reason, movedTo: dest, files: moved },
    `existing certificate material is unusable (${reason}); moved aside to ${dest} (nothing deleted)`,
  );
  return dest;
}
