import { connect } from 'node:tls';

export interface TlsGreetingOptions {
  port: number;
  servername: string;
  /** What the server says first on an implicit-TLS mail port; none: the handshake is enough (HTTPS). */
  greeting?: RegExp;
  /** Sent once the greeting came (QUIT, LOGOUT). */
  goodbye?: string;
  timeoutMs?: number;
}

/**
 * One TLS session as a client has it: the handshake, the server's greeting (mail ports), a
 * polite goodbye. Resolves with the served certificate's SHA-256 fingerprint; rejects when the
 * connection fails or closes first, saying what the server did say and the TLS state (which
 * tells a reload's cut from any other failure). The certificate is not verified: callers
 * compare the fingerprint with the one they expect.
 */
export function tlsGreeting(options: TlsGreetingOptions): Promise<string> {
  const { port, servername, greeting, goodbye = '', timeoutMs = 5_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    let done = false;
    const finish = (outcome: () => void, close = () => socket.destroy()) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      outcome();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new Error(`no ${greeting ? 'greeting' : 'handshake'} on port ${port} within ${timeoutMs} ms`)),
        ),
      timeoutMs,
    );
    let text = '';
    const fingerprint = () => socket.getPeerX509Certificate()?.fingerprint256 ?? '';
    socket.on('secureConnect', () => {
      if (greeting) return;
      const seen = fingerprint();
      finish(
        () => resolve(seen),
        () => socket.end(),
      );
    });
    socket.on('data', (d) => {
      text += d.toString();
      if (greeting?.test(text)) {
        const seen = fingerprint();
        finish(
          () => resolve(seen),
          () => socket.end(goodbye),
        );
      }
    });
    socket.on('error', (err) => finish(() => reject(err)));
    socket.on('close', () =>
      finish(() =>
        reject(
          new Error(
            `${new Date().toISOString()}: connection on port ${port} closed before the greeting (said ${JSON.stringify(text.slice(0, 120))}, TLS ${socket.getProtocol() ?? 'not established'})`,
          ),
        ),
      ),
    );
  });
}

/** How dovecot 2.4 ends a pre-login connection while it reloads (login-common's "Server shutting down"). */
export const DOVECOT_RELOAD_ABORT =
  /closed before the greeting \(said "(?:\* BYE Server shutting down\\r\\n)?", TLS not established\)/;
