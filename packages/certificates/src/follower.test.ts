import type { CertificatePair } from '@podserve/runtime/tls';
import { CertificateFollower, type FollowerOptions } from '@podserve/runtime/tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { type TestVolume, testVolume } from './test-volume.js';

/**
 * A stand-in daemon: apply() is what a service's config transaction + reload does, served()
 * is its TLS handshake. What it serves changes only when the test says the reload took.
 */
class FakeDaemon {
  serving: string | undefined;
  applied: string[] = [];
  /** What the next apply() does: take it (now or after a delay), refuse it, or "reload" and keep the old one. */
  mode: { take: 'now' } | { take: 'later'; afterMs: number } | { take: 'refuse' } | { take: 'keep-old' } = {
    take: 'now',
  };
  tookAt = 0;

  async apply(pair: CertificatePair, fingerprint: (pair: CertificatePair) => string): Promise<boolean> {
    this.applied.push(pair.generation);
    const mode = this.mode;
    if (mode.take === 'refuse') return false;
    if (mode.take === 'now') this.serve(fingerprint(pair));
    if (mode.take === 'later') setTimeout(() => this.serve(fingerprint(pair)), mode.afterMs);
    return true;
  }

  serve(fingerprint: string): void {
    this.serving = fingerprint;
    this.tookAt = Date.now();
  }
}

async function until<T>(check: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let volume: TestVolume;
let mem: ReturnType<typeof memoryLogger>;
const followers: CertificateFollower[] = [];
const stop = new AbortController();

beforeEach(async () => {
  mem = memoryLogger();
  volume = await testVolume(mem.logger);
});
afterEach(async () => {
  for (const f of followers.splice(0)) await f.close();
  await volume.remove();
});

const fingerprints = new Map<string, string>();

function follow(daemon: FakeDaemon, options: Partial<FollowerOptions> = {}): CertificateFollower {
  const follower = new CertificateFollower(
    { certPath: volume.certPath, names: ['example.test'], log: mem.logger, ...options },
    {
      apply: (pair) => daemon.apply(pair, (p) => fingerprints.get(p.generation) ?? 'unknown'),
      served: async () => daemon.serving,
      changed: () => undefined,
    },
  );
  followers.push(follower);
  return follower;
}

/** Publishes a pair and remembers its fingerprint (what a handshake would show). */
async function publish(names: string[]) {
  const published = await volume.publish(names);
  fingerprints.set(published.generation, published.fingerprint);
  return published;
}

/** The daemon's start with the first pair, as ApacheService.startProcesses does it. */
async function startWithFirst(daemon: FakeDaemon, follower: CertificateFollower) {
  const first = await follower.waitForFirst(stop.signal);
  if (!first) throw new Error('no first pair');
  daemon.serve(fingerprints.get(first.generation) ?? '');
  expect(await follower.started(first)).toBe(true);
  return first;
}

const warnings = () => mem.records.filter((r) => r.level === 40).map((r) => String(r.msg));

describe('CertificateFollower', () => {
  it('does not call a new generation served until the handshake shows its certificate', async () => {
    const g1 = await publish(['example.test', 'www.example.test']);
    const daemon = new FakeDaemon();
    const follower = follow(daemon);
    const first = await startWithFirst(daemon, follower);
    expect(first.generation).toBe(g1.generation);
    expect(follower.health()).toEqual({ ok: true, reason: `serving certificate generation ${g1.generation}` });

    daemon.mode = { take: 'later', afterMs: 800 };
    const g2 = await publish(['example.test']);
    await until(() => daemon.applied.includes(g2.generation), 5_000, 'apply(g2)');
    // The reload "worked" (apply said true) but the daemon still hands out g1.
    expect(follower.details().servedGeneration).toBe(g1.generation);
    expect(follower.health().reason).toContain(g1.generation);
    await until(() => follower.details().servedGeneration === g2.generation, 5_000, 'g2 served');
    const confirmedAt = Date.now();
    expect(confirmedAt).toBeGreaterThanOrEqual(daemon.tookAt);
    expect(follower.health()).toEqual({ ok: true, reason: `serving certificate generation ${g2.generation}` });
    expect(daemon.applied).toEqual([g2.generation]);
  });

  it('a failed apply keeps the old certificate, turns readiness false with the reason, and is retried', async () => {
    await publish(['example.test']);
    const daemon = new FakeDaemon();
    const follower = follow(daemon, { retryMs: 200, confirmMs: 300 });
    const first = await startWithFirst(daemon, follower);

    daemon.mode = { take: 'refuse' };
    const g2 = await publish(['example.test']);
    await until(() => !follower.health().ok, 5_000, 'readiness false');
    expect(follower.health().reason).toMatch(
      new RegExp(
        `^certificate generation ${g2.generation} is not in service yet \\(the daemon did not take it\\); generation ${first.generation} is still served; retrying in \\d+ s$`,
      ),
    );
    expect(follower.details().servedGeneration).toBe(first.generation);
    expect(daemon.serving).toBe(fingerprints.get(first.generation));

    // The reload "succeeds" but the daemon keeps the old certificate: still not served.
    daemon.mode = { take: 'keep-old' };
    await until(() => daemon.applied.length >= 2, 5_000, 'a retry');
    await until(() => /the daemon still serves the old one/.test(follower.health().reason), 5_000, 'the stale reason');
    expect(follower.health().ok).toBe(false);

    // The daemon recovers: the next retry puts g2 in service.
    daemon.mode = { take: 'now' };
    await until(() => follower.health().ok, 10_000, 'ready again');
    expect(follower.details().servedGeneration).toBe(g2.generation);
    expect(daemon.applied.length).toBeGreaterThanOrEqual(3);
    expect(new Set(daemon.applied)).toEqual(new Set([g2.generation]));
  });

  it('while waiting, readiness names the certificate, the directory and what is wrong there', async () => {
    const daemon = new FakeDaemon();
    const follower = follow(daemon, { recheckMs: 200 });
    const first = follower.waitForFirst(stop.signal);
    const prefix = `waiting for a certificate for example.test in ${volume.certPath}: `;
    await until(() => follower.health().reason.includes('ENOENT'), 5_000, 'the ENOENT reason');
    expect(follower.health()).toEqual({ ok: false, reason: `${prefix}no published certificate (ENOENT)` });

    const other = await publish(['other.test']);
    await until(() => follower.health().reason.includes(other.generation), 5_000, 'the wrong-name reason');
    expect(follower.health()).toEqual({
      ok: false,
      reason: `${prefix}generation ${other.generation} covers other.test, not example.test`,
    });

    const good = await publish(['example.test']);
    expect((await first)?.generation).toBe(good.generation);
  });

  it('warns about every refused generation, even two within 10 s, and summarises a repeated one', async () => {
    const daemon = new FakeDaemon();
    const follower = follow(daemon, { recheckMs: 100, waitingReportMs: 1_500 });
    void follower.waitForFirst(stop.signal);
    const a = await publish(['other.test']);
    await until(() => warnings().some((w) => w.includes(a.generation)), 5_000, 'the first warning');
    const b = await publish(['another.test']);
    await until(() => warnings().some((w) => w.includes(b.generation)), 5_000, 'the second warning');
    expect(warnings().filter((w) => w.includes(a.generation))).toHaveLength(1);
    expect(warnings().find((w) => w.includes(b.generation))).toBe(
      `refused a certificate: generation ${b.generation} covers another.test, not example.test; still waiting for one for example.test`,
    );

    // A corrupted generation stays current and every re-read (100 ms) refuses it again.
    const bad = await volume.publishMismatched();
    await until(() => warnings().some((w) => w.includes(bad)), 5_000, 'the corruption warning');
    expect(warnings().find((w) => w.includes(bad))).toMatch(/^refused a certificate: the published pair is unusable: /);
    expect(follower.health().reason).toContain(bad);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(warnings().filter((w) => w.includes(bad))).toHaveLength(1); // not one per re-read
    await until(
      () => warnings().some((w) => w.includes(bad) && /seen \d+ more time\(s\) since/.test(w)),
      5_000,
      'the summary of the repeats',
    );
    expect(warnings().filter((w) => w.includes(bad)).length).toBeLessThanOrEqual(3);
  });

  it('once serving, a refused newer generation is warned about and the served one stays, ready', async () => {
    await publish(['example.test']);
    const daemon = new FakeDaemon();
    const follower = follow(daemon);
    const first = await startWithFirst(daemon, follower);
    const wrong = await publish(['other.test']);
    await until(() => warnings().some((w) => w.includes(wrong.generation)), 5_000, 'the warning');
    expect(warnings().find((w) => w.includes(wrong.generation))).toBe(
      `refused a certificate: generation ${wrong.generation} covers other.test, not example.test; generation ${first.generation} stays in service`,
    );
    expect(follower.health()).toEqual({ ok: true, reason: `serving certificate generation ${first.generation}` });
    expect(daemon.applied).toEqual([]);
  });

  it('with several targets, calls a generation served once every daemon serves it, and shows each one', async () => {
    const g1 = await publish(['example.test']);
    const postfix = new FakeDaemon();
    const dovecot = new FakeDaemon();
    const fp = (p: CertificatePair) => fingerprints.get(p.generation) ?? 'unknown';
    const follower = new CertificateFollower(
      { certPath: volume.certPath, names: ['example.test'], log: mem.logger, retryMs: 200, confirmMs: 300 },
      {
        // One transaction reloads both daemons; each takes the pair (or not) on its own.
        apply: async (pair) => (await postfix.apply(pair, fp)) && (await dovecot.apply(pair, fp)),
        targets: { postfix: async () => postfix.serving, dovecot: async () => dovecot.serving },
        changed: () => undefined,
      },
    );
    followers.push(follower);
    const first = await follower.waitForFirst(stop.signal);
    postfix.serve(g1.fingerprint);
    dovecot.serve(g1.fingerprint);
    expect(first && (await follower.started(first))).toBe(true);
    expect(follower.details()).toMatchObject({
      servedGeneration: g1.generation,
      servedBy: { postfix: g1.generation, dovecot: g1.generation },
    });

    dovecot.mode = { take: 'keep-old' };
    const g2 = await publish(['example.test']);
    await until(() => /dovecot still serves the old one/.test(follower.health().reason), 5_000, 'the lagging reason');
    expect(follower.health().ok).toBe(false);
    expect(follower.details()).toMatchObject({
      servedGeneration: g1.generation,
      servedBy: { postfix: g2.generation, dovecot: g1.generation },
    });
    expect(warnings().some((w) => w.startsWith(`dovecot does not serve generation ${g2.generation} yet`))).toBe(true);

    dovecot.mode = { take: 'now' };
    await until(() => follower.health().ok, 10_000, 'both serve g2');
    expect(follower.details()).toMatchObject({
      servedGeneration: g2.generation,
      servedBy: { postfix: g2.generation, dovecot: g2.generation },
    });
  });
});
