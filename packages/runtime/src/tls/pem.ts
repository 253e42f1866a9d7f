import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type KeyType, keyTypeOf } from './key-type.js';

/** Why a pair cannot be used, worded for the log line that moves it aside. */
export class MaterialProblem extends Error {
  override readonly name = 'MaterialProblem';
}

export interface ParsedPair {
  leaf: X509Certificate;
  /** Intermediates after the leaf in fullchain.pem (may be empty for a self-signed leaf). */
  chain: X509Certificate[];
  key: KeyObject;
  keyType: KeyType | undefined;
  /** DNS names of the subjectAltName, lower-case, in certificate order. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, each ending in a newline. */
export function splitPemCertificates(text: string): string[] {
  return (text.match(PEM_CERT_RE) ?? []).map((block) => `${block}\n`);
}

function parseCertificate(pem: string, what: string): X509Certificate {
  const blocks = splitPemCertificates(pem);
  if (blocks.length === 0) throw new MaterialProblem(`${what} holds no PEM certificate (${pem.length} bytes)`);
  try {
    return new X509Certificate(blocks[0] as string);
  } catch (err) {
    throw new MaterialProblem(`${what} is not a valid certificate: ${(err as Error).message}`);
  }
}

export function certificateNames(cert: X509Certificate): string[] {
  // Node prints `DNS:a, DNS:b, IP Address:…`; values with commas or quotes never occur in DNS names.
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
}

/**
 * Parses a certificate, its key and (optionally) its full chain, and checks they belong
 * together. Throws MaterialProblem naming the file that is wrong.
 */
export function parsePair(
  certPem: string,
  keyPem: string,
  fullchainPem?: string,
  files: { cert: string; key: string } = { cert: 'cert.pem', key: 'privkey.pem' },
): ParsedPair {
  const leaf = parseCertificate(certPem, files.cert);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new MaterialProblem(`${files.key} is not a valid private key: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key))
    throw new MaterialProblem(`${files.key} does not match ${files.cert} (different key)`);
  let chain: X509Certificate[] = [];
  if (fullchainPem !== undefined) {
    const blocks = splitPemCertificates(fullchainPem);
    const first = blocks[0] === undefined ? undefined : parseCertificate(blocks[0], 'fullchain.pem');
    if (!first || first.fingerprint256 !== leaf.fingerprint256) {
      throw new MaterialProblem('fullchain.pem does not start with cert.pem');
    }
    chain = blocks.slice(1).map((b, i) => parseCertificate(b, `fullchain.pem certificate #${i + 2}`));
  }
  return {
    leaf,
    chain,
    key,
    keyType: keyTypeOf(key),
    names: certificateNames(leaf),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}
