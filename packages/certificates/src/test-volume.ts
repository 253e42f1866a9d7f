/**
 * Test support (not bundled: only *.test.ts import it): a real certificates volume in a temp
 * directory, filled by the package's own issuer and publisher, as the certificates service
 * fills it in a pod.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@podserve/runtime';
import { generatePrivateKey } from './keys.js';
import { SelfSignedIssuer } from './selfsigned.js';
import { Layout } from './storage/layout.js';
import { newGenerationId, Publisher } from './storage/publish.js';

export interface TestVolume {
  certPath: string;
  /** Issues a certificate for `names` with the local CA and makes it current. */
  publish(names: string[]): Promise<{ generation: string; fingerprint: string; certPem: string }>;
  /** A generation whose key does not match its certificate, made current by hand. */
  publishMismatched(): Promise<string>;
  remove(): Promise<void>;
}

export async function testVolume(log: Logger): Promise<TestVolume> {
  const root = await mkdtemp(join(tmpdir(), 'podserve-follower-'));
  const certPath = join(root, 'certs');
  await mkdir(certPath);
  const layout = new Layout(certPath);
  const issuer = new SelfSignedIssuer(layout, undefined, 86_400_000, log);
  const publisher = new Publisher(layout, undefined, 20, log);
  const issued: Array<{ certPem: string }> = [];
  const volume: TestVolume = {
    certPath,
    async publish(names) {
      const material = await issuer.issue({ names, keyType: 'rsa2048', signal: new AbortController().signal });
      issued.push(material);
      const x509 = new X509Certificate(material.certPem);
      const { id } = await publisher.publish({
        certPem: material.certPem,
        chainPem: material.chainPem,
        keyPem: material.keyPem,
        caPem: material.caPem,
        meta: {
          version: 1,
          issuer: 'selfsigned',
          issuerId: material.issuerId,
          names,
          keyType: material.keyType,
          issuedAt: new Date().toISOString(),
          notBefore: new Date(x509.validFrom).toISOString(),
          notAfter: new Date(x509.validTo).toISOString(),
        },
      });
      return { generation: id, fingerprint: x509.fingerprint256, certPem: material.certPem };
    },
    async publishMismatched() {
      const cert = issued.at(-1)?.certPem ?? (await volume.publish(['mismatched.test'])).certPem;
      const otherKey = await generatePrivateKey('rsa2048');
      const id = newGenerationId();
      const dir = layout.generation(id);
      await mkdir(dir);
      await writeFile(join(dir, 'cert.pem'), cert);
      await writeFile(join(dir, 'fullchain.pem'), cert);
      await writeFile(join(dir, 'privkey.pem'), otherKey);
      await symlink(`generations/${id}`, join(certPath, '.current.bad'));
      await rename(join(certPath, '.current.bad'), layout.current);
      return id;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
  return volume;
}
