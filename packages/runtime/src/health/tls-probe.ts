export interface TlsProbeOptions {
  host?: string;
  port: number;
  /** SNI: which site (and certificate) to ask for. */
  servername: string;
  timeoutMs?: number;
  /** Sent once the handshake is done (an HTTP request); the first line of the answer is returned. */
  request?: string;
}

export interface TlsProbeResult {
  /** SHA-256 fingerprint of the certificate served, as X509Certificate.fingerprint256 writes it. */
  fingerprint256: string;
  protocol: string | null;
  /** The first line of the answer to `request` (e.g. "HTTP/1.1 200 OK"), if one was sent. */
  firstLine?: string;
}

/**
 * Connects to a TLS daemon the way a client does and reports what it serves: the proof that
 * a reload put the new certificate in service, and a probe that the daemon answers. Trust is
 * not checked here (the caller compares fingerprints); node:tls loads only when called.
 */
export async function tlsProbe(options: TlsProbeOptions): Promise<TlsProbeResult> {
  const { connect } = await import('node:tls');
  const timeoutMs = options.timeoutMs ?? 2_000;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.host ?? '127.0.0.1',
      port: options.port,
      servername: options.servername,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(
      () => fail(new Error(`no TLS answer from ${options.host ?? '127.0.0.1'}:${options.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let result: TlsProbeResult | undefined;
    let answer = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const fail = (err: Error) => {
      done();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      result = { fingerprint256: socket.getPeerCertificate().fingerprint256, protocol: socket.getProtocol() };
      if (options.request === undefined) {
        done();
        resolve(result);
        return;
      }
      socket.write(options.request);
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const eol = answer.indexOf('\r\n');
      if (eol >= 0 && result) {
        done();
        resolve({ ...result, firstLine: answer.slice(0, eol) });
      }
    });
    socket.once('end', () => {
      if (result) {
        done();
        resolve({ ...result, firstLine: answer.split('\r\n')[0] ?? '' });
      } else fail(new Error('the connection closed before the TLS handshake completed'));
    });
  });
}
