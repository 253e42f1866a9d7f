import { once } from 'node:events';
import type { Socket } from 'node:net';
import { LineReader, negotiateStartTls, type StartTlsProtocol } from './starttls.js';

export interface TlsProbeOptions {
  host?: string;
  port: number;
  /** SNI: which site (and certificate) to ask for. */
  servername: string;
  timeoutMs?: number;
  /** Speak this protocol in plain text first and upgrade with STARTTLS (SMTP on 25/587, IMAP on 143). */
  starttls?: StartTlsProtocol;
  /**
   * Connect from this address (a probe from 127.0.0.2 is told apart in the daemon's log from
   * real clients on 127.0.0.1; see ProcessSpec.quietLines).
   */
  localAddress?: string;
  /** ALPN protocols to offer (apache: ['http/1.1']); none by default, as a mail client offers none. */
  alpn?: string[];
  /**
   * Sent once the handshake is done (an HTTP request); the first line of the answer is
   * returned. '' sends nothing and returns the server's greeting (SMTP on 465, IMAP on 993).
   */
  request?: string;
}

export interface TlsProbeResult {
  /** SHA-256 fingerprint of the certificate served, as X509Certificate.fingerprint256 writes it. */
  fingerprint256: string;
  protocol: string | null;
  /** The plain-text greeting before STARTTLS ("220 mail.example.test ESMTP Postfix"). */
  banner?: string;
  /** The first line of the answer to `request` (e.g. "HTTP/1.1 200 OK"), if one was sent. */
  firstLine?: string;
}

/**
 * Connects to a TLS daemon the way a client does and reports what it serves: the proof that
 * a reload put the new certificate in service, and a probe that the daemon answers. With
 * `starttls` it first speaks SMTP or IMAP in plain text (greeting, STARTTLS offered, the
 * command), as a mail client does. Trust is not checked here (the caller compares
 * fingerprints); node:tls and node:net load only when called. One timer bounds it all.
 */
export async function tlsProbe(options: TlsProbeOptions): Promise<TlsProbeResult> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 2_000;
  return withDeadline(
    timeoutMs,
    `no TLS answer from ${host}:${options.port} within ${timeoutMs} ms`,
    async (track, untrack) => {
      const { connect } = await import('node:tls');
      let plain: Socket | undefined;
      let banner: string | undefined;
      if (options.starttls) {
        const net = await import('node:net');
        plain = track(net.connect({ host, port: options.port, localAddress: options.localAddress }));
        await once(plain, 'connect');
        banner = await negotiateStartTls(plain, options.starttls);
      }
      const socket = track(
        connect({
          ...(plain ? { socket: plain } : { host, port: options.port, localAddress: options.localAddress }),
          servername: options.servername,
          rejectUnauthorized: false,
          ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
        }),
      );
      // The TLS socket owns the plain one now: destroying it destroys both.
      if (plain) untrack(plain);
      await once(socket, 'secureConnect').catch((err: Error) => {
        throw new Error(`the TLS handshake with ${host}:${options.port} failed: ${err.message}`);
      });
      const result: TlsProbeResult = {
        fingerprint256: socket.getPeerCertificate().fingerprint256,
        protocol: socket.getProtocol(),
        ...(banner !== undefined ? { banner } : {}),
      };
      if (options.request === undefined) return result;
      const reader = new LineReader(socket);
      if (options.request !== '') socket.write(options.request);
      const firstLine = await reader.next().catch(() => reader.rest());
      return { ...result, firstLine };
    },
  );
}

/** Runs `work`, failing with `message` after `ms`; every socket it tracked is destroyed either way. */
async function withDeadline<T>(
  ms: number,
  message: string,
  work: (track: <S extends Socket>(s: S) => S, untrack: (s: Socket) => void) => Promise<T>,
): Promise<T> {
  const sockets: Socket[] = [];
  const track = <S extends Socket>(s: S): S => {
    sockets.push(s);
    // An error after the step that waited for it (a reset mid-read) must never reach PID 1
    // as an uncaught exception; the step in progress sees it through its own listener.
    s.on('error', () => undefined);
    return s;
  };
  const untrack = (s: Socket) => {
    sockets.splice(sockets.indexOf(s), 1);
  };
  let timer: NodeJS.Timeout | undefined;
  const running = work(track, untrack);
  // Settled late (after the deadline) it must not become an unhandled rejection.
  running.catch(() => undefined);
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}
