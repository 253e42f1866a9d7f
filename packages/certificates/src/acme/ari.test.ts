import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { ariCertIdFrom, authorityKeyId, parseRenewalInfo, pickInWindow, serialOctets } from './ari.js';

describe('ARI (RFC 9773)', () => {
  it('builds the CertID of the RFC example', () => {
    const aki = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
    expect(ariCertIdFrom(aki, '0087654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(ariCertIdFrom(aki, '87654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(serialOctets('01').toString('hex')).toBe('01');
  });

  it('reads the authorityKeyIdentifier out of a certificate', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ name: 'commonName', value: 'x' }]);
    cert.setIssuer([{ name: 'commonName', value: 'x' }]);
    const keyId = Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex');
    cert.setExtensions([{ name: 'authorityKeyIdentifier', keyIdentifier: keyId.toString('binary') }]);
    cert.sign(
      forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      forge.md.sha256.create(),
    );
    const x509 = new X509Certificate(forge.pki.certificateToPem(cert));
    expect(authorityKeyId(x509)?.toString('hex')).toBe(keyId.toString('hex'));
  });

  it('parses a suggested window and picks a time inside it', () => {
    const info = parseRenewalInfo({ suggestedWindow: { start: '2025-01-02T00:00:00Z', end: '2025-01-03T00:00:00Z' } });
    expect(info).toBeDefined();
    if (!info) return;
    expect(pickInWindow(info, () => 0.5).toISOString()).toBe('2025-01-02T12:00:00.000Z');
    expect(parseRenewalInfo({ suggestedWindow: { start: 'x', end: 'y' } })).toBeUndefined();
    expect(parseRenewalInfo({})).toBeUndefined();
  });
});
