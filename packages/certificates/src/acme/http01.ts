import http from 'node:http';
import type { Logger } from '@podserve/runtime';

const PREFIX = '/.well-known/acme-challenge/';

/**
 * The HTTP-01 responder, open only while an order is being validated, so it never holds
 * the port longer than needed. In a pod apache owns port 80 and proxies
 * /.well-known/acme-challenge/ to ACME_HTTP_PORT; standalone, ACME_HTTP_PORT is 80 itself.
 */
export class Http01Responder {
  private readonly tokens = new Map<string, string>();
  private server: http.Server | undefined;

  constructor(
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    const server = http.createServer((req, res) => {
      const token = req.url?.startsWith(PREFIX) ? req.url.slice(PREFIX.length) : undefined;
      const body = token === undefined ? undefined : this.tokens.get(token);
      this.log.debug(
        { url: req.url, host: req.headers.host, from: req.socket.remoteAddress, found: body !== undefined },
        'HTTP-01 request',
      );
      if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
      if (body === undefined) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    server.keepAliveTimeout = 1000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'EADDRINUSE'
            ? ` (something else, apache?, listens there: give ACME_HTTP_PORT a free port and proxy ${PREFIX} to it)`
            : err.code === 'EACCES'
              ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
              : '';
        reject(new Error(`HTTP-01 responder cannot listen on port ${this.port}: ${err.code ?? err.message}${hint}`));
      });
      server.listen({ port: this.port }, () => resolve());
    });
    this.server = server;
    this.log.debug({ port: this.port }, 'HTTP-01 responder listening');
  }

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.tokens.clear();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.log.debug({ port: this.port }, 'HTTP-01 responder closed');
  }
}
