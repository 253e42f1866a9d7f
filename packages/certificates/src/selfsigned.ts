import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@podserve/runtime';
import { MaterialProblem, parsePair } from '@podserve/runtime/tls';
import type forgeType from 'node-forge';
import type { IssuedMaterial, IssueRequest, Issuer } from './issuer.js';
import { generatePrivateKey, type KeyType } from './keys.js';
import { ensureDir, errCode, fsyncDir, type Ownership, writeNewFile } from './storage/fsx.js';
import { type Layout, MODES } from './storage/layout.js';
import { moveAside } from './storage/quarantine.js';

type Forge = typeof forgeType;

const CA_VALIDITY_MS = 10 * 365 * 86_400_000;
/** A CA with less than this left is replaced (clients must re-trust it, so it is worth a warning). */
const CA_MIN_REMAINING_MS = 365 * 86_400_000;
/** Backdating absorbs clock skew between this container and its clients. */
const BACKDATE_MS = 5 * 60_000;

interface LocalCa {
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
}

let forgePromise: Promise<Forge> | undefined;
/** Loaded on first use: ACME-only deployments never pay for forge. */
function loadForge(): Promise<Forge> {
  forgePromise ??= import('node-forge').then(
    (m) => (m as unknown as { default: Forge }).default ?? (m as unknown as Forge),
  );
  return forgePromise;
}

/** Positive 128-bit serial (the top bit cleared so DER does not read it as negative). */
function serialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/**
 * Development issuer: a local CA, persisted under CERT_PATH/ca and reused so that a client
 * trusts it once, signs a leaf for DOMAIN + SANs. node-forge builds and signs the X.509
 * (it signs RSA only, hence RSA keys); node:crypto generates the keys, much faster.
 */
export class SelfSignedIssuer implements Issuer {
  readonly kind = 'selfsigned' as const;
  private ca: LocalCa | undefined;

  constructor(
    private readonly layout: Layout,
    private readonly owner: Ownership | undefined,
    private readonly validityMs: number,
    private readonly log: Logger,
  ) {}

  /** The identity recorded in meta.json: the CA's fingerprint (a new CA means a new leaf). */
  async issuerId(): Promise<string> {
    return (await this.loadOrCreateCa()).cert.fingerprint256;
  }

  /** The current CA's certificate without creating one (startup validation must not write). */
  async existingCa(): Promise<X509Certificate | undefined> {
    try {
      const pem = await readFile(join(this.layout.caDir, 'ca.pem'), 'utf8');
      return new X509Certificate(pem);
    } catch {
      return undefined;
    }
  }

  async issue(request: IssueRequest): Promise<IssuedMaterial> {
    const forge = await loadForge();
    const ca = await this.loadOrCreateCa();
    const keyType: KeyType = request.keyType.startsWith('rsa') ? request.keyType : 'rsa2048';
    const started = Date.now();
    const keyPem = await generatePrivateKey(keyType);
    const cert = newCertificate(forge, keyPem, this.validityMs);
    const [commonName] = request.names;
    cert.setSubject([{ name: 'commonName', value: commonName }]);
    const caCert = forge.pki.certificateFromPem(ca.certPem);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      // apache refuses a self-signed leaf without CA:FALSE (AH01906).
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: request.names.map((value) => ({ type: 2, value })) },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
    const certPem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
    this.log.debug(
      { names: request.names, keyType, ms: Date.now() - started, notAfter: cert.validity.notAfter.toISOString() },
      'self-signed leaf issued',
    );
    // chain.pem carries the local CA: consumers that insist on a non-empty chain file work, and
    // a client that was handed the chain can verify the leaf.
    return { certPem, chainPem: ca.certPem, keyPem, caPem: ca.certPem, keyType, issuerId: ca.cert.fingerprint256 };
  }

  private async loadOrCreateCa(): Promise<LocalCa> {
    if (this.ca) return this.ca;
    const keyPath = join(this.layout.caDir, 'ca.key');
    const certPath = join(this.layout.caDir, 'ca.pem');
    let existing: { keyPem: string; certPem: string } | undefined;
    try {
      existing = { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') };
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
    if (existing) {
      try {
        const parsed = parsePair(existing.certPem, existing.keyPem, undefined, { cert: 'ca/ca.pem', key: 'ca/ca.key' });
        const remaining = parsed.notAfter.getTime() - Date.now();
        if (!parsed.leaf.ca) throw new MaterialProblem('ca/ca.pem is not a CA certificate');
        if (remaining < CA_MIN_REMAINING_MS) {
          throw new MaterialProblem(`the local CA expires on ${parsed.notAfter.toISOString()}`);
        }
        this.ca = { ...existing, cert: parsed.leaf };
        this.log.debug({ fingerprint: parsed.leaf.fingerprint256 }, 'local CA reused');
        return this.ca;
      } catch (err) {
        if (!(err instanceof MaterialProblem)) throw err;
        await moveAside(this.layout, [this.layout.caDir], `local CA: ${err.message}`, this.log);
      }
    }
    this.ca = await this.createCa(keyPath, certPath);
    return this.ca;
  }

  private async createCa(keyPath: string, certPath: string): Promise<LocalCa> {
    const forge = await loadForge();
    const keyPem = await generatePrivateKey('rsa2048');
    const cert = newCertificate(forge, keyPem, CA_VALIDITY_MS);
    // A per-instance name, so two dev pods' CAs are told apart in a trust store.
    const subject = [
      { name: 'commonName', value: `PodServe local CA ${hostname()} ${randomBytes(3).toString('hex')}` },
    ];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
    const certPem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');

    // Written under temporary names and renamed: a crash never leaves a CA without its key.
    const rootOnly = this.owner ? { uid: this.owner.uid, gid: 0 } : undefined;
    await ensureDir(this.layout.caDir, MODES.secretDir, rootOnly);
    const suffix = `.${process.pid}.tmp`;
    // pid 1 in every container start: a crash may have left our own temp names behind.
    for (const p of [keyPath + suffix, certPath + suffix]) await unlink(p).catch(() => undefined);
    await writeNewFile(keyPath + suffix, keyPem, MODES.secret, rootOnly);
    await writeNewFile(certPath + suffix, certPem, MODES.cert, rootOnly);
    await rename(keyPath + suffix, keyPath);
    await rename(certPath + suffix, certPath);
    await fsyncDir(this.layout.caDir);
    const x509 = new X509Certificate(certPem);
    this.log.info(
      { fingerprint: x509.fingerprint256, subject: x509.subject },
      'created a new local CA for self-signed certificates',
    );
    return { certPem, keyPem, cert: x509 };
  }
}

/** A certificate for `keyPem`'s public key, valid from a little before now for `validityMs`. */
function newCertificate(forge: typeof forgeType, keyPem: string, validityMs: number): forgeType.pki.Certificate {
  const now = Date.now();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(
    createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }) as string,
  );
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + validityMs);
  return cert;
}
