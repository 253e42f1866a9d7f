import { spawn } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CertificatePair, watchCertificates } from '@podserve/certificates';
import { createLogger, type Logger } from '@podserve/runtime';
import forge from 'node-forge';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Layout } from '../../packages/certificates/src/storage/layout.js';
import { Publisher, type PublishInput } from '../../packages/certificates/src/storage/publish.js';
import { repoRoot, waitFor } from './helpers.js';

/** A quick self-signed pair (forge signs with the RSA key generated natively). */
function makePair(name: string): PublishInput {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: name }]);
  cert.setIssuer([{ name: 'commonName', value: name }]);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
  const x509 = new X509Certificate(certPem);
  return {
    certPem,
    chainPem: '',
    keyPem,
    meta: {
      version: 1,
      issuer: 'selfsigned',
      issuerId: 'test',
      names: [name],
      keyType: 'rsa2048',
      issuedAt: new Date().toISOString(),
      notBefore: new Date(x509.validFrom).toISOString(),
      notAfter: new Date(x509.validTo).toISOString(),
    },
  };
}

let log: Logger;
let pairs: PublishInput[];
const dirs: string[] = [];
beforeAll(async () => {
  log = (await createLogger({ service: 'test', level: 'silent', format: 'json', logDir: null })).logger;
  pairs = ['a.example.test', 'b.example.test', 'c.example.test'].map(makePair);
});
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempCertPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podserve-certs-pairs-'));
  dirs.push(dir);
  return dir;
}

function reader(certPath: string, ms: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test/certificates/pair-reader.ts'), certPath, String(ms)],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`reader exited ${code}`)),
    );
  });
}

describe('certificates: publishing is atomic for readers', () => {
  it('concurrent readers in 3 processes see 0 mismatched pairs during hundreds of publishes', async () => {
    const certPath = await tempCertPath();
    const publisher = new Publisher(new Layout(certPath), undefined, 3, log);
    await publisher.publish(pairs[0] as PublishInput);
    const readers = [reader(certPath, 6_000), reader(certPath, 6_000), reader(certPath, 6_000)];
    await new Promise((r) => setTimeout(r, 1_000)); // let the readers start (tsx)
    let published = 0;
    const until = Date.now() + 4_000;
    while (Date.now() < until || published < 300) {
      await publisher.publish(pairs[published % pairs.length] as PublishInput);
      published++;
    }
    const results = await Promise.all(readers);
    const total = (k: string) => results.reduce((sum, r) => sum + Number(r[k]), 0);
    console.info(`pair consistency: ${published} publishes; readers: ${JSON.stringify(results)}`);
    expect(published).toBeGreaterThanOrEqual(300);
    expect(total('mismatches'), JSON.stringify(results)).toBe(0);
    expect(total('pairReads')).toBeGreaterThan(300);
    expect(total('combinedReads')).toBeGreaterThan(300);
    expect(Math.min(...results.map((r) => Number(r.generations)))).toBeGreaterThan(10);
  }, 30_000);

  it('watchCertificates signals each new verified generation once, and refuses a mismatched one', async () => {
    const certPath = await tempCertPath();
    const publisher = new Publisher(new Layout(certPath), undefined, 3, log);
    await publisher.publish(pairs[0] as PublishInput);
    const seen: CertificatePair[] = [];
    const errors: Error[] = [];
    const watcher = watchCertificates(certPath, (pair) => void seen.push(pair), {
      debounceMs: 100,
      onError: (e) => errors.push(e),
    });
    try {
      await watcher.ready;
      expect(seen).toEqual([]); // the initial generation is not a change
      const { id: g2 } = await publisher.publish(pairs[1] as PublishInput);
      await waitFor(() => (seen.length === 1 ? true : undefined), 5_000, 'first change');
      expect(seen[0]?.generation).toBe(g2);
      expect(seen[0]?.names).toEqual(['b.example.test']);

      // A burst of switches is debounced into one signal for the last one.
      let last = '';
      for (const p of [pairs[2], pairs[0], pairs[1]]) last = (await publisher.publish(p as PublishInput)).id;
      await waitFor(() => (seen.at(-1)?.generation === last ? true : undefined), 5_000, 'burst settled');
      expect(seen.length).toBeLessThanOrEqual(3);

      // Someone puts a mismatched pair in place: reported, never signalled.
      const badId = '20200101T000000000Z-1-000001'; // a generation's name, with a mismatched pair in it
      const bad = join(certPath, 'generations', badId);
      await mkdir(bad);
      const a = pairs[0] as PublishInput;
      const b = pairs[1] as PublishInput;
      await writeFile(join(bad, 'cert.pem'), a.certPem);
      await writeFile(join(bad, 'fullchain.pem'), a.certPem);
      await writeFile(join(bad, 'privkey.pem'), b.keyPem);
      await symlink(`generations/${badId}`, join(certPath, '.current.bad'));
      await rename(join(certPath, '.current.bad'), join(certPath, 'current'));
      const before = seen.length;
      await waitFor(() => (errors.length > 0 ? true : undefined), 5_000, 'mismatch reported');
      expect(errors[0]?.message).toMatch(/does not match/);
      expect(seen.length).toBe(before);

      // A link that names anything but a generation (a path a daemon's config would quote) is refused.
      await symlink('generations/x\nLoadModule evil /e.so', join(certPath, '.current.evil'));
      await rename(join(certPath, '.current.evil'), join(certPath, 'current'));
      await waitFor(() => (errors.length > 1 ? true : undefined), 5_000, 'foreign link reported');
      expect(errors[1]?.message).toMatch(/points at "generations\/x\nLoadModule evil \/e\.so", not at a generation/);
      expect(seen.length).toBe(before);
    } finally {
      await watcher.close();
    }
  });
});
