import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../logging/logger.js';
import { FileLock, LockBusyError } from './file-lock.js';

let log: Logger;
const dirs: string[] = [];
beforeAll(async () => {
  log = (await createLogger({ service: 'test', level: 'silent', format: 'json', logDir: null })).logger;
});
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function lockPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podserve-lock-'));
  dirs.push(dir);
  return join(dir, '.lock');
}

describe('FileLock', () => {
  it('excludes a second holder until released', async () => {
    const path = await lockPath();
    const a = new FileLock(path, log);
    const b = new FileLock(path, log);
    await a.acquire(0);
    await expect(b.acquire(600)).rejects.toBeInstanceOf(LockBusyError);
    await a.release();
    await b.acquire(0);
    expect(b.isHeld).toBe(true);
    await b.release();
  });

  it('breaks a lock whose heartbeat stopped, even from another host or PID namespace', async () => {
    const path = await lockPath();
    await writeFile(
      path,
      JSON.stringify({ pid: 1, hostname: 'elsewhere', startTime: null, pidNamespace: null, acquiredAt: '' }),
    );
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const lock = new FileLock(path, log);
    await lock.acquire(0);
    expect(lock.isHeld).toBe(true);
    await lock.release();
  });

  it('waits for a live holder in another namespace whose heartbeat is fresh', async () => {
    const path = await lockPath();
    await writeFile(
      path,
      JSON.stringify({ pid: 1, hostname: 'elsewhere', startTime: null, pidNamespace: 'pid:[1]', acquiredAt: '' }),
    );
    await expect(new FileLock(path, log).acquire(400)).rejects.toThrow(/held by pid 1 on elsewhere/);
  });
});
