import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../logging/logger.js';
import type { HealthResult } from './status.js';
import { StatusPublisher } from './status-publisher.js';

let dir: string;
let log: Logger;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'podserve-status-'));
  log = (await createLogger({ service: 'test', level: 'silent', format: 'json', logDir: null })).logger;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const published = () => JSON.parse(readFileSync(join(dir, 'svc.json'), 'utf8')) as { readiness: HealthResult };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('StatusPublisher', () => {
  it('evaluates an unready service again at every heartbeat, a ready one only every recheck period', async () => {
    let ready = false;
    let evaluations = 0;
    const publisher = new StatusPublisher(
      dir,
      'svc',
      {
        liveness: async () => ({ ok: true, reason: 'alive' }),
        readiness: async () => {
          evaluations += 1;
          return ready ? { ok: true, reason: 'serving' } : { ok: false, reason: 'a probe timed out' };
        },
        processes: () => [],
      },
      log,
      50,
      60_000,
    );
    await publisher.setPhase('ready');
    await publisher.start();
    expect(published().readiness).toMatchObject({ ok: false, reason: 'a probe timed out' });
    // The probe recovers: the next heartbeat, not the next recheck a minute away, says so.
    ready = true;
    await sleep(300);
    expect(published().readiness).toMatchObject({ ok: true, reason: 'serving' });
    // Ready: heartbeats only touch the file.
    const settled = evaluations;
    await sleep(300);
    expect(evaluations).toBe(settled);
    await publisher.remove();
  });

  it('counts a readiness check that outlasts its bound as failed, naming the bound', async () => {
    const publisher = new StatusPublisher(
      dir,
      'svc',
      {
        liveness: async () => ({ ok: true, reason: 'alive' }),
        readiness: () => new Promise(() => undefined),
        processes: () => [],
      },
      log,
    );
    const status = await publisher.evaluate();
    expect(status.readiness).toMatchObject({ ok: false });
    expect(status.readiness.reason).toMatch(/readiness check took over 3000 ms/);
  });
});
