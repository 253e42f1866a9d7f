import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readCertificatePair } from '@podserve/certificates';
import forge from 'node-forge';
import { afterEach, describe, expect, it } from 'vitest';
import { openssl, publicKeyDigest, runService, sandboxPerTest, snapshot, startService, waitFor } from './helpers.js';

const box = sandboxPerTest();

const mode = (path: string) => statSync(path).mode & 0o777;
const current = (certPath: string) => readlinkSync(join(certPath, 'current'));
const fingerprint = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;

const isRoot = process.getuid?.() === 0;

describe('certificates: self-signed', () => {
  it('init publishes a matching CA:FALSE serverAuth leaf with the right modes, and reuses everything on a second run', async () => {
    const b = await box({ CERT_SANS: 'www.example.test, mail.example.test' });
    const started = Date.now();
    const first = await runService(b.env);
    const elapsed = Date.now() - started;
    expect(first.code, first.output).toBe(0);
    expect(elapsed).toBeLessThan(5_000); // includes tsx start-up; the bundle is faster

    const cert = join(b.certPath, 'cert.pem');
    const key = join(b.certPath, 'privkey.pem');
    expect(await publicKeyDigest(cert, 'cert')).toBe(await publicKeyDigest(key, 'key'));
    const text = await openssl(['x509', '-in', cert, '-noout', '-text']);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toMatch(/DNS:example\.test, DNS:www\.example\.test, DNS:mail\.example\.test/);
    expect(await openssl(['verify', '-CAfile', join(b.certPath, 'ca.pem'), cert])).toContain('OK');

    for (const f of ['privkey.pem', 'combined.pem']) expect(mode(join(b.certPath, f))).toBe(0o640);
    for (const f of ['cert.pem', 'fullchain.pem', 'chain.pem', 'ca.pem']) expect(mode(join(b.certPath, f))).toBe(0o644);
    expect(statSync(key).gid).toBe(isRoot ? 9999 : process.getgid?.());
    expect(mode(join(b.certPath, 'generations'))).toBe(0o755);
    expect(mode(join(b.certPath, 'ca', 'ca.key'))).toBe(0o600);
    expect(current(b.certPath)).toMatch(/^generations\//);
    for (const f of ['cert.pem', 'privkey.pem', 'fullchain.pem', 'chain.pem', 'combined.pem', 'ca.pem']) {
      expect(readlinkSync(join(b.certPath, f))).toBe(`current/${f}`);
    }
    const combined = readFileSync(join(b.certPath, 'combined.pem'), 'utf8');
    expect(combined).toBe(readFileSync(key, 'utf8') + readFileSync(join(b.certPath, 'fullchain.pem'), 'utf8'));

    const pair = await readCertificatePair(b.certPath);
    expect(pair.names).toEqual(['example.test', 'www.example.test', 'mail.example.test']);

    // Idempotence: same generation, same certificate.
    const before = { link: current(b.certPath), fp: fingerprint(cert) };
    const second = await runService(b.env);
    expect(second.code, second.output).toBe(0);
    expect({ link: current(b.certPath), fp: fingerprint(cert) }).toEqual(before);
    expect(second.output).toContain('published certificate is valid; kept');
  });

  it('changing CERT_SANS issues a new certificate from the same local CA and keeps the old generation', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const oldLink = current(b.certPath);
    const ca = fingerprint(join(b.certPath, 'ca.pem'));
    const again = await runService({ ...b.env, CERT_SANS: 'www.example.test' });
    expect(again.code, again.output).toBe(0);
    expect(current(b.certPath)).not.toBe(oldLink);
    expect(again.output).toContain('names www.example.test are not covered');
    expect(fingerprint(join(b.certPath, 'ca.pem'))).toBe(ca);
    expect(existsSync(join(b.certPath, oldLink))).toBe(true);
    expect((await readCertificatePair(b.certPath)).names).toEqual(['example.test', 'www.example.test']);
  });

  it('a truncated cert.pem is moved aside (not deleted) and replaced', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const oldGeneration = current(b.certPath).split('/')[1] as string;
    writeFileSync(join(b.certPath, 'cert.pem'), ''); // through the link, like `: > cert.pem`
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    const moved = run.records.find((r) => String(r.msg).includes('moved aside'));
    expect(moved?.reason).toMatch(/cert\.pem holds no PEM certificate/);
    const aside = String(moved?.movedTo);
    expect(existsSync(join(aside, `generations_${oldGeneration}`, 'privkey.pem'))).toBe(true);
    expect(current(b.certPath)).not.toContain(oldGeneration);
    const cert = join(b.certPath, 'cert.pem');
    expect(await publicKeyDigest(cert, 'cert')).toBe(await publicKeyDigest(join(b.certPath, 'privkey.pem'), 'key'));
  });

  it('a key that does not match its certificate is moved aside and replaced', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const dir = join(b.certPath, current(b.certPath));
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    writeFileSync(join(dir, 'privkey.pem'), other);
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/privkey\.pem does not match cert\.pem/);
    expect(run.output).toMatch(/moved aside to .*quarantine/);
    await readCertificatePair(b.certPath); // verifies the new pair
  });

  it('an expired certificate is replaced; its generation stays on disk', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const link = current(b.certPath);
    const dir = join(b.certPath, link);
    // Re-sign the published leaf (same key, same CA) with a validity that ended yesterday.
    const ca = forge.pki.certificateFromPem(readFileSync(join(b.certPath, 'ca', 'ca.pem'), 'utf8'));
    const caKey = forge.pki.privateKeyFromPem(readFileSync(join(b.certPath, 'ca', 'ca.key'), 'utf8'));
    const leaf = forge.pki.certificateFromPem(readFileSync(join(dir, 'cert.pem'), 'utf8'));
    leaf.validity.notBefore = new Date(Date.now() - 10 * 86_400_000);
    leaf.validity.notAfter = new Date(Date.now() - 86_400_000);
    leaf.setIssuer(ca.subject.attributes);
    leaf.sign(caKey, forge.md.sha256.create());
    const pem = forge.pki.certificateToPem(leaf);
    writeFileSync(join(dir, 'cert.pem'), pem);
    writeFileSync(join(dir, 'fullchain.pem'), pem + readFileSync(join(b.certPath, 'ca', 'ca.pem'), 'utf8'));

    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/published certificate expired on/);
    expect(current(b.certPath)).not.toBe(link);
    expect(existsSync(dir)).toBe(true);
    expect((await readCertificatePair(b.certPath)).notAfter.getTime()).toBeGreaterThan(Date.now());
  });

  it("DOMAIN='bad domain!' exits 78 naming DOMAIN and changes nothing", async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const before = snapshot(b.dir);
    const run = await runService({ ...b.env, DOMAIN: 'bad domain!' });
    expect(run.code).toBe(78);
    expect(run.output).toMatch(/DOMAIN: expected a DNS name/);
    expect(snapshot(b.dir)).toEqual(before);
  });

  it('invalid e-mail and acme without LE_EMAIL are clear errors before anything is created', async () => {
    const b = await box();
    const badEmail = await runService({ ...b.env, CERT_ISSUER: 'acme', LE_EMAIL: 'not-an-email' });
    expect(badEmail.code).toBe(78);
    expect(badEmail.output).toMatch(/LE_EMAIL: expected an e-mail address/);
    const noEmail = await runService({ ...b.env, CERT_ISSUER: 'acme' });
    expect(noEmail.code).toBe(78); // a rule across variables is a configuration problem too
    expect(noEmail.output).toMatch(/LE_EMAIL is required with CERT_ISSUER=acme/);
    const wildcard = await runService({
      ...b.env,
      CERT_ISSUER: 'acme',
      LE_EMAIL: 'a@example.test',
      CERT_SANS: '*.example.test',
    });
    expect(wildcard.code).toBe(78);
    expect(wildcard.output).toMatch(/need ACME_CHALLENGE=dns-01/);
    expect(existsSync(b.certPath)).toBe(false);
  });

  it('--dry-run reports what it would do and writes nothing', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const before = snapshot(b.certPath);
    const run = await runService({ ...b.env, CERT_SANS: 'new.example.test' }, ['--mode', 'init', '--dry-run']);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/would be replaced/);
    expect(snapshot(b.certPath)).toEqual(before);
  });

  it('a stale lock (dead pid) is detected and broken', async () => {
    const b = await box();
    await mkdir(b.certPath, { recursive: true });
    const ns = readlinkSync('/proc/self/ns/pid');
    const stale = {
      pid: 2 ** 22 - 3,
      hostname: hostname(),
      startTime: '1',
      pidNamespace: ns,
      acquiredAt: new Date().toISOString(),
    };
    await writeFile(join(b.certPath, '.lock'), JSON.stringify(stale));
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/removed a stale lock \(process \d+ is gone\)/);
    expect(existsSync(join(b.certPath, '.lock'))).toBe(false);
  });

  it('cron mode is ready, renews on SIGUSR1 and on a renew-now file, and stops cleanly', async () => {
    const b = await box();
    const svc = startService(b.env); // cron is the default mode
    try {
      const status = join(b.runDir, 'certificates.json');
      const readiness = () => JSON.parse(readFileSync(status, 'utf8')).readiness as { ok: boolean; reason: string };
      await waitFor(() => readiness().ok || undefined, 15_000, 'readiness');
      const g1 = current(b.certPath);
      svc.child.kill('SIGUSR1');
      const g2 = await waitFor(
        () => (current(b.certPath) !== g1 ? current(b.certPath) : undefined),
        10_000,
        'SIGUSR1 renewal',
      );
      writeFileSync(join(b.certPath, 'renew-now'), '');
      await waitFor(() => (current(b.certPath) !== g2 ? true : undefined), 10_000, 'trigger-file renewal');
      expect(existsSync(join(b.certPath, 'renew-now'))).toBe(false);
      expect(readiness().ok).toBe(true);
      expect(JSON.parse(readFileSync(status, 'utf8')).liveness.ok).toBe(true);
    } finally {
      expect(await svc.stop()).toBe(0);
    }
  });
});

// Mounting a tmpfs needs root, as do the PID-namespace tests: fail rather than skip elsewhere.
it('runs as root, to mount the small filesystems the failure tests need', () => {
  expect(isRoot, 'the certificates filesystem-failure tests mount tmpfs and need root').toBe(true);
});

describe.runIf(isRoot)('certificates: filesystem failures (root: mounts tmpfs)', () => {
  const mounted: string[] = [];
  afterEach(() => {
    for (const m of mounted.splice(0)) execFileSync('umount', [m]);
  });

  it('an unwritable (read-only) CERT_PATH is a clear error', async () => {
    const b = await box();
    await mkdir(b.certPath, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', b.certPath]);
    mounted.push(b.certPath);
    const run = await runService(b.env);
    expect(run.code).toBe(73);
    expect(run.output).toMatch(/CERT_PATH .* (is not writable|cannot be prepared): it is on a read-only filesystem/);
  });

  it('a full disk fails the new issuance clearly and leaves the previous generation intact', async () => {
    const b = await box();
    await mkdir(b.certPath, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', b.certPath]);
    mounted.push(b.certPath);
    expect((await runService(b.env)).code).toBe(0);
    const before = await readCertificatePair(b.certPath);
    // Fill what is left, then ask for a different certificate.
    try {
      writeFileSync(join(b.certPath, 'filler'), Buffer.alloc(64 * 1024));
    } catch {
      // ENOSPC is the point
    }
    const run = await runService({ ...b.env, CERT_SANS: 'www.example.test' });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/no space left on the CERT_PATH volume/);
    expect(run.output).toContain(`generation ${before.generation} stays current`);
    const after = await readCertificatePair(b.certPath);
    expect(after.generation).toBe(before.generation);
    expect(after.cert).toBe(before.cert);
    expect(readdirSync(join(b.certPath, 'generations')).filter((n) => n.endsWith('.partial'))).toEqual([]);
  });
});
