import tls from 'node:tls';
import type { Logger } from '@podserve/runtime';

/**
 * TLS-ALPN-01 (RFC 8737): during validation, a TLS server on ACME_TLS_PORT answers the
 * `acme-tls/1` protocol with a self-signed certificate carrying the key authorization.
 * Open only while an order is validated.
 */
export class TlsAlpn01Responder {
  private readonly contexts = new Map<string, tls.SecureContext>();
  private server: tls.Server | undefined;

  constructor(
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    const server = tls.createServer({
      ALPNProtocols: ['acme-tls/1'],
      SNICallback: (servername, cb) => {
        const context = this.contexts.get(servername.toLowerCase());
        this.log.debug({ servername, found: context !== undefined }, 'TLS-ALPN-01 handshake');
        cb(context ? null : new Error(`no TLS-ALPN-01 challenge for ${servername}`), context);
      },
    });
    server.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'TLS-ALPN-01 client error'));
    server.on('secureConnection', (socket) => socket.end());
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`TLS-ALPN-01 responder cannot listen on port ${this.port}: ${err.code ?? err.message}`)),
      );
      server.listen({ port: this.port }, () => resolve());
    });
    this.server = server;
  }

  set(name: string, keyPem: string, certPem: string): void {
    this.contexts.set(name.toLowerCase(), tls.createSecureContext({ key: keyPem, cert: certPem }));
  }

  delete(name: string): void {
    this.contexts.delete(name.toLowerCase());
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.contexts.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
