import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { CertificatePair } from '@podserve/runtime/tls';
import type { Hono } from 'hono';

/** Connections at once; beyond, the kernel's backlog and then refusals. */
const MAX_CONNECTIONS = 512;

export interface ApiServer {
  readonly server: Server;
  port(): number;
  /** A renewal: new connections get the new pair, open ones keep theirs. No request fails. */
  setCertificate(pair: CertificatePair): void;
  close(): Promise<void>;
}

/** HTTPS (TLS 1.2+) on `host:port` with the pod's certificate pair, answering with `app`. */
export async function startApiServer(options: {
  app: Hono<never>;
  host: string;
  port: number;
  pair: CertificatePair;
}): Promise<ApiServer> {
  const listener = getRequestListener(options.app.fetch);
  const server = createServer(
    { cert: options.pair.fullchain, key: options.pair.key, minVersion: 'TLSv1.2' },
    (req, res) => void listener(req, res),
  );
  server.maxConnections = MAX_CONNECTIONS;
  // Half-sent requests do not hold a connection for ever; idle keep-alive ends soon.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: () => (server.address() as AddressInfo).port,
    setCertificate(pair) {
      server.setSecureContext({ cert: pair.fullchain, key: pair.key, minVersion: 'TLSv1.2' });
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Log streams and idle keep-alive connections would hold the close for ever.
      server.closeAllConnections();
      await closed;
    },
  };
}
