import type { X509Certificate } from 'node:crypto';

/** OID 2.5.29.35 (authorityKeyIdentifier) as DER: 06 03 55 1d 23. */
const AKI_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);

/** Reads one DER length at `pos`; returns [length, offset of the content]. */
function derLength(der: Buffer, pos: number): [number, number] {
  const first = der[pos] ?? 0;
  if (first < 0x80) return [first, pos + 1];
  const count = first & 0x7f;
  let len = 0;
  for (let i = 0; i < count; i++) len = len * 256 + (der[pos + 1 + i] ?? 0);
  return [len, pos + 1 + count];
}

/** The keyIdentifier of the certificate's authorityKeyIdentifier extension (node:crypto does not expose it). */
export function authorityKeyId(cert: X509Certificate): Buffer | undefined {
  const der = cert.raw;
  const at = der.indexOf(AKI_OID);
  if (at < 0) return undefined;
  let pos = at + AKI_OID.length;
  if (der[pos] === 0x01) pos += 3; // critical BOOLEAN
  if (der[pos] !== 0x04) return undefined; // extnValue OCTET STRING
  [, pos] = derLength(der, pos + 1);
  if (der[pos] !== 0x30) return undefined; // AuthorityKeyIdentifier SEQUENCE
  [, pos] = derLength(der, pos + 1);
  if (der[pos] !== 0x80) return undefined; // [0] keyIdentifier
  const [len, start] = derLength(der, pos + 1);
  return der.subarray(start, start + len);
}

/** The serial as the content octets of its DER INTEGER (a leading 00 when the top bit is set). */
export function serialOctets(serialHex: string): Buffer {
  let hex = serialHex.replace(/[^0-9a-f]/gi, '');
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  while (bytes.length > 1 && bytes[0] === 0 && ((bytes[1] ?? 0) & 0x80) === 0) bytes = bytes.subarray(1);
  if (((bytes[0] ?? 0) & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return bytes;
}

/** RFC 9773 CertID: base64url(AKI keyIdentifier) "." base64url(serial DER content). */
export function ariCertIdFrom(aki: Buffer, serialHex: string): string {
  return `${aki.toString('base64url')}.${serialOctets(serialHex).toString('base64url')}`;
}

export function ariCertId(cert: X509Certificate): string | undefined {
  const aki = authorityKeyId(cert);
  return aki ? ariCertIdFrom(aki, cert.serialNumber) : undefined;
}

export interface RenewalInfo {
  start: Date;
  end: Date;
  explanationURL?: string;
}

/** Parses a renewalInfo response; undefined unless it is a well-formed window. */
export function parseRenewalInfo(body: unknown): RenewalInfo | undefined {
  const window = (body as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string })
    ?.suggestedWindow;
  if (!window?.start || !window.end) return undefined;
  const start = new Date(window.start);
  const end = new Date(window.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) return undefined;
  return { start, end, explanationURL: (body as { explanationURL?: string }).explanationURL };
}

/** A uniformly random time in the window (RFC 9773 §4.2), so clients spread out. */
export function pickInWindow(info: RenewalInfo, random: () => number = Math.random): Date {
  return new Date(info.start.getTime() + random() * (info.end.getTime() - info.start.getTime()));
}
