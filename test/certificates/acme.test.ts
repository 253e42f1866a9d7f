import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readCertificatePair } from '@podserve/certificates';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Pebble, startPebble } from '../support/pebble.js';
import { publicKeyDigest, runService, type Sandbox, sandbox, startService, waitFor } from './helpers.js';

const boxes: Sandbox[] = [];
afterEach(async () => {
  for (const b of boxes.splice(0)) await b.cleanup();
});

function acmeEnv(pebble: Pebble, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CERT_ISSUER: 'acme',
    LE_EMAIL: 'admin@example.test',
    CERT_SANS: 'www.example.test',
    ACME_DIRECTORY_URL: pebble.directoryUrl,
    ACME_CA_FILE: pebble.caFile,
    ACME_HTTP_PORT: String(pebble.httpPort),
    ACME_TLS_PORT: String(pebble.tlsPort),
    ACME_TIMEOUT: '5s',
    ...extra,
  };
}

async function box(extra: Record<string, string>): Promise<Sandbox> {
  const b = await sandbox(extra);
  boxes.push(b);
  return b;
}

/** The leaf's chain ends at the running pebble's issuing root. */
async function chainsToPebble(certPath: string, pebble: Pebble): Promise<boolean> {
  const pair = await readCertificatePair(certPath);
  const intermediate = new X509Certificate(pair.chain);
  const root = new X509Certificate(await pebble.rootsPem());
  return new X509Certificate(pair.cert).verify(intermediate.publicKey) && intermediate.verify(root.publicKey);
}

describe('certificates: ACME against pebble', () => {
  let pebble: Pebble;
  beforeAll(async () => {
    pebble = await startPebble();
  });
  afterAll(async () => {
    await pebble?.stop();
  });

  it('init issues over HTTP-01, persists the account key 0600, keeps it on a second run; renew forces a new one', async () => {
    const b = await box(acmeEnv(pebble));
    const first = await runService(b.env);
    expect(first.code, first.output).toBe(0);
    const cert = join(b.certPath, 'cert.pem');
    expect(await publicKeyDigest(cert, 'cert')).toBe(await publicKeyDigest(join(b.certPath, 'privkey.pem'), 'key'));
    const pair = await readCertificatePair(b.certPath);
    expect(pair.names).toEqual(['example.test', 'www.example.test']);
    expect(new X509Certificate(pair.cert).issuer).toMatch(/Pebble Intermediate CA/);
    expect(new X509Certificate(pair.cert).publicKey.asymmetricKeyType).toBe('ec');
    expect(await chainsToPebble(b.certPath, pebble)).toBe(true);
    expect(pair.ca).toBeUndefined();
    expect(existsSync(join(b.certPath, 'ca.pem'))).toBe(false);
    const [account] = readdirSync(join(b.certPath, 'accounts'));
    expect(statSync(join(b.certPath, 'accounts', String(account), 'account.key')).mode & 0o777).toBe(0o600);

    const link = readlinkSync(join(b.certPath, 'current'));
    const second = await runService(b.env);
    expect(second.code, second.output).toBe(0);
    expect(readlinkSync(join(b.certPath, 'current'))).toBe(link);

    const renewed = await runService(b.env, ['--mode', 'renew']);
    expect(renewed.code, renewed.output).toBe(0);
    expect(readlinkSync(join(b.certPath, 'current'))).not.toBe(link);
    expect(renewed.output).not.toContain('ACME account registered'); // same account reused
  });

  it('TLS-ALPN-01 works too, and an RSA key type is honoured', async () => {
    const b = await box(acmeEnv(pebble, { ACME_CHALLENGE: 'tls-alpn-01', CERT_KEY_TYPE: 'rsa2048' }));
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    const pair = await readCertificatePair(b.certPath);
    expect(new X509Certificate(pair.cert).publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(await chainsToPebble(b.certPath, pebble)).toBe(true);
  });

  it('a CA that cannot be reached is a clear error with backoff recorded, and nothing is published', async () => {
    const b = await box(acmeEnv(pebble, { ACME_DIRECTORY_URL: 'https://127.0.0.1:1/dir' }));
    const run = await runService(b.env);
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/certificate issuance failed \(1 in a row\): ECONNREFUSED/);
    const state = JSON.parse(readFileSync(join(b.certPath, 'state', 'renewal.json'), 'utf8'));
    expect(state.failures).toBe(1);
    // A second init inside the backoff does not contact the CA again.
    const again = await runService(b.env);
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(/not asking the CA again before/);
    expect(existsSync(join(b.certPath, 'current'))).toBe(false);
  });
});

describe('certificates: ACME renewal of short-lived certificates', () => {
  it('renews on schedule; with pebble stopped keeps the old pair, backs off and raises the alarm; recovers after a restart', async () => {
    // 30 s certificates: renewal when 15 s remain (the 1/2 rule for short lifetimes), alarm at 10 s.
    const pebble = await startPebble({ validityPeriodSeconds: 30 });
    const b = await box(
      acmeEnv(pebble, { CERT_RETRY_MIN: '1s', CERT_RETRY_MAX: '3s', CERT_WARN_BEFORE: '10s', ACME_TIMEOUT: '2s' }),
    );
    const svc = startService(b.env);
    const status = join(b.runDir, 'certificates.json');
    const readiness = () => JSON.parse(readFileSync(status, 'utf8')).readiness as { ok: boolean; reason: string };
    const currentLink = () => readlinkSync(join(b.certPath, 'current'));
    try {
      await waitFor(() => readiness().ok || undefined, 20_000, 'first certificate and readiness');
      const g1 = currentLink();

      // A scheduled renewal, with nothing asking for it.
      const g2 = await waitFor(() => (currentLink() !== g1 ? currentLink() : undefined), 25_000, 'scheduled renewal');
      expect(await chainsToPebble(b.certPath, pebble)).toBe(true);

      // The CA goes away: renewals fail, the published pair stays, the alarm goes up.
      const pid = pebble.pid;
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
      await svc.waitForLog((r) => String(r.msg).startsWith('certificate issuance failed'), 25_000, 'a failed renewal');
      await svc.waitForLog((r) => String(r.msg).startsWith('CERTIFICATE ALARM'), 15_000, 'the alarm');
      await waitFor(() => (!readiness().ok ? true : undefined), 5_000, 'not ready');
      expect(readiness().reason).toMatch(/expires in|expired/);
      expect(currentLink()).toBe(g2);
      const kept = await readCertificatePair(b.certPath); // still a matching pair
      expect(kept.generation).toBe(g2.split('/')[1]);
      const failures = svc.records().filter((r) => String(r.msg).startsWith('certificate issuance failed'));
      const retryAts = failures.map((r) => Date.parse(String(r.retryAt)));
      expect(retryAts.every((t, i) => i === 0 || t > (retryAts[i - 1] ?? 0))).toBe(true);

      // The CA is back (new process, new roots, accounts forgotten): the next retry recovers.
      await pebble.restart();
      await waitFor(() => (currentLink() !== g2 ? true : undefined), 20_000, 'recovery after restart');
      await waitFor(() => readiness().ok || undefined, 5_000, 'ready again');
      expect(await chainsToPebble(b.certPath, pebble)).toBe(true);
      await svc.waitForLog((r) => r.msg === 'certificate alarm cleared', 5_000, 'alarm cleared');
    } finally {
      expect(await svc.stop()).toBe(0);
      await pebble.stop();
    }
  }, 90_000);
});
