import { generateKeyPair, type KeyObject } from 'node:crypto';

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa2048', 'rsa3072', 'rsa4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * A fresh private key as PKCS#8 PEM. node:crypto rather than forge: native generation
 * takes milliseconds where forge's JavaScript RSA takes seconds.
 */
export function generatePrivateKey(type: KeyType): Promise<string> {
  const pem = {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: string, privateKey: string) =>
      err ? reject(err) : resolve(privateKey);
    if (type === 'ecdsa-p256' || type === 'ecdsa-p384') {
      generateKeyPair('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384', ...pem }, done);
    } else {
      generateKeyPair('rsa', { modulusLength: Number(type.slice(3)), ...pem }, done);
    }
  });
}

/** What kind of key this is, in our vocabulary; undefined for anything we never issue. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (details?.namedCurve === 'secp384r1') return 'ecdsa-p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa${bits}`;
  }
  return undefined;
}

/** True when the private key is the one whose public half the certificate carries. */
export function publicKeysEqual(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}
