import type { KeyType } from '../keys.js';

export type IssuerKind = 'selfsigned' | 'acme';

/** meta.json beside every generation: what produced it, so a restart can tell whether it still fits the config. */
export interface GenerationMeta {
  version: 1;
  id: string;
  issuer: IssuerKind;
  /** selfsigned: SHA-256 fingerprint of the local CA; acme: the directory URL. */
  issuerId: string;
  names: string[];
  keyType: KeyType;
  issuedAt: string;
  notBefore: string;
  notAfter: string;
}

export function parseMeta(text: string): GenerationMeta | undefined {
  try {
    const meta = JSON.parse(text) as Partial<GenerationMeta>;
    if (
      meta.version === 1 &&
      (meta.issuer === 'selfsigned' || meta.issuer === 'acme') &&
      typeof meta.issuerId === 'string' &&
      Array.isArray(meta.names)
    ) {
      return meta as GenerationMeta;
    }
  } catch {
    // Unparseable meta is treated like a missing one: the certificate itself is still checked.
  }
  return undefined;
}
