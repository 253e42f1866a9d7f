import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/support/processes.js';
import { tlsProbe } from './tls-probe.js';

let pair: { key: Buffer; cert: Buffer; fingerprint256: string };
const closers: Array<() => Promise<void>> = [];
beforeAll(() => {
  const dir = tempDir('podserve-tls-probe-');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=mail.example.test',
        '-keyout',
        join(dir.path, 'key.pem'),
        '-out',
        join(dir.path, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir.path, 'cert.pem'));
    pair = {
      key: readFileSync(join(dir.path, 'key.pem')),
      cert,
      fingerprint256: new X509Certificate(cert).fingerprint256,
    };
  } finally {
    dir.cleanup();
  }
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** npm's smtp-server as the peer: a real SMTP dialogue with STARTTLS (RFC 3207). */
async function smtp(options: { secure?: boolean; hideSTARTTLS?: boolean } = {}): Promise<number> {
  const server = new SMTPServer({
    ...options,
    key: pair.key,
    cert: pair.cert,
    name: 'mail.example.test',
    banner: 'probe peer',
    authOptional: true,
    logger: false,
  });
  // A probe hangs up after the handshake: smtp-server reports that as an error event.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.server.address() as { port: number }).port;
}

describe('tlsProbe', () => {
  it('upgrades an SMTP session with STARTTLS and reports the banner and the certificate served', async () => {
    const port = await smtp();
    const result = await tlsProbe({ port, servername: 'mail.example.test', starttls: 'smtp' });
    expect(result.banner).toMatch(/^220 mail\.example\.test ESMTP probe peer/);
    expect(result.fingerprint256).toBe(pair.fingerprint256);
    expect(result.protocol).toMatch(/^TLSv1\.[23]$/);
  });

  it('speaks TLS from the first byte on an implicit-TLS port (465), offering no ALPN unless asked', async () => {
    const port = await smtp({ secure: true });
    const result = await tlsProbe({ port, servername: 'mail.example.test', request: '' });
    expect(result.fingerprint256).toBe(pair.fingerprint256);
    expect(result.firstLine).toMatch(/^220 mail\.example\.test/);
  });

  it('fails, saying why, when STARTTLS is not offered', async () => {
    const port = await smtp({ hideSTARTTLS: true });
    await expect(tlsProbe({ port, servername: 'mail.example.test', starttls: 'smtp' })).rejects.toThrow(
      'the server does not offer STARTTLS after EHLO',
    );
  });

  it('gives up after its timeout on a server that never greets, leaving no socket behind', async () => {
    const held: Array<import('node:net').Socket> = [];
    const server: Server = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as { port: number };
    await expect(tlsProbe({ port, servername: 'x', starttls: 'imap', timeoutMs: 300 })).rejects.toThrow(
      `no TLS answer from 127.0.0.1:${port} within 300 ms`,
    );
    // The probe's side closed: the server sees its end.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(held).toHaveLength(1);
    expect(held[0]?.readableEnded || held[0]?.destroyed).toBe(true);
    for (const s of held) s.destroy();
  });
});
