import { generateKeyPair } from 'node:crypto';
import { KEY_TYPES, type KeyType, keyTypeOf, publicKeysEqual } from '@podserve/runtime/tls';

export { KEY_TYPES, type KeyType, keyTypeOf, publicKeysEqual };

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
