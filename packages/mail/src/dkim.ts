import { createPublicKey, generateKeyPair } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { errCode, type FileOps, type Logger } from '@podserve/runtime';

/**
 * The DKIM signing key: made once (RSA 2048, what every receiver verifies; Ed25519 signatures
 * are not yet checked by all of them), kept in the mail state volume, owned by opendkim and
 * readable by nobody else. Returns the record to publish at SELECTOR._domainkey.DOMAIN.
 */
export async function ensureDkimKey(
  files: FileOps,
  path: string,
  owner: { uid: number; gid: number },
  log: Logger,
): Promise<{ pem: string; created: boolean }> {
  try {
    const pem = readFileSync(path, 'utf8');
    createPublicKey(pem); // a damaged key fails here, with the path, not later in opendkim
    return { pem, created: false };
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw new Error(`the DKIM key ${path} is not usable: ${(err as Error).message}`);
  }
  const pem = await new Promise<string>((resolve, reject) =>
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      },
      (err, _pub, priv) => (err ? reject(err) : resolve(priv)),
    ),
  );
  await files.ensureDir(dirname(path), { mode: 0o700, ...owner });
  await files.writeFile(path, pem, { mode: 0o600, ...owner, loggable: false });
  log.info({ path }, `made a DKIM key in ${path}`);
  return { pem, created: true };
}

/** The TXT record's value: `v=DKIM1; k=rsa; p=` and the public key (SubjectPublicKeyInfo, base64). */
export function dkimRecordValue(privatePem: string): string {
  const spki = createPublicKey(privatePem).export({ type: 'spki', format: 'der' });
  return `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
}
