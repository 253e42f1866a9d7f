import type { X509Certificate } from 'node:crypto';
import type { KeyType } from './keys.js';
import type { IssuerKind } from './storage/meta.js';

export interface IssueRequest {
  /** DOMAIN first, then CERT_SANS; the first is the subject CN. */
  names: string[];
  keyType: KeyType;
  /** The certificate being renewed (same issuer): ARI's `replaces` when the CA supports it. */
  previous?: X509Certificate;
  signal: AbortSignal;
}

export interface IssuedMaterial {
  certPem: string;
  /** Intermediates only (leaf excluded); empty when the leaf is signed directly by a root. */
  chainPem: string;
  keyPem: string;
  caPem?: string;
  /** The key type actually used (self-signed falls back to RSA). */
  keyType: KeyType;
  issuerId: string;
}

/** Something that turns names into a certificate: the local CA or an ACME CA. */
export interface Issuer {
  readonly kind: IssuerKind;
  issue(request: IssueRequest): Promise<IssuedMaterial>;
  /** ARI (RFC 9773): when the CA suggests renewing this certificate; undefined when it has no opinion. */
  suggestedRenewal?(leaf: X509Certificate): Promise<Date | undefined>;
  /** Frees ports and sockets (the HTTP-01 responder). */
  close?(): Promise<void>;
}

/** A failure the CA asked us to wait out (HTTP 429 / Retry-After): the next attempt is not before `retryAt`. */
export class IssuanceError extends Error {
  override readonly name = 'IssuanceError';
  constructor(
    message: string,
    readonly retryAt?: Date,
  ) {
    super(message);
  }
}
