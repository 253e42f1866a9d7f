import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { mkdir } from './fs.js';

/**
 * `mkdir -p`, one component at a time. Node 20's mkdir(…, { recursive: true }) never
 * returns for a path under /proc (measured: it spins at 100 % CPU), and a PID 1 that
 * hangs on a bad LOG_DIR is worse than one that reports it.
 */
export function mkdirpSync(path: string, mode = 0o755): void {
  const missing = missingAncestors(path);
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function mkdirp(path: string, mode = 0o755): Promise<void> {
  for (const dir of missingAncestors(path)) {
    try {
      await mkdir(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** The path and its ancestors, outermost first, stopping at the root. */
function missingAncestors(path: string): string[] {
  const chain: string[] = [];
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) chain.unshift(dir);
  return chain;
}
