import { type HealthResult, LineReader, smtpReply, tlsProbe } from '@podserve/runtime';
import { PROBE_ADDRESS } from './processes.js';
import type { MailSettings } from './settings.js';

const TIMEOUT_MS = 2_000;

/** The certificate postfix serves on 465 (implicit TLS), for the certificate follower. */
export async function postfixServed(s: MailSettings): Promise<string | undefined> {
  const r = await tlsProbe({
    localAddress: PROBE_ADDRESS,
    port: s.ports.submissions,
    servername: s.hostname,
    request: '',
    timeoutMs: TIMEOUT_MS,
  });
  return r.firstLine?.startsWith('220') ? r.fingerprint256 : undefined;
}

/** The certificate dovecot serves on 993. */
export async function dovecotServed(s: MailSettings): Promise<string | undefined> {
  const r = await tlsProbe({
    localAddress: PROBE_ADDRESS,
    port: s.ports.imaps,
    servername: s.hostname,
    request: '',
    timeoutMs: TIMEOUT_MS,
  });
  return r.firstLine?.startsWith('* OK') ? r.fingerprint256 : undefined;
}

/**
 * Readiness beyond running processes: the SMTP banner on 25 and 587 with STARTTLS offered and
 * taken, the IMAP greeting on 143 with STARTTLS, and dovecot's LMTP answering LHLO on the
 * socket postfix delivers to, all at once. The first failing check, in that order, is the reason.
 */
export async function mailServing(s: MailSettings): Promise<HealthResult> {
  const checks: Array<[string, () => Promise<unknown>]> = [
    [
      `SMTP on ${s.ports.smtp}`,
      () =>
        tlsProbe({
          localAddress: PROBE_ADDRESS,
          port: s.ports.smtp,
          servername: s.hostname,
          starttls: 'smtp',
          timeoutMs: TIMEOUT_MS,
        }),
    ],
    [
      `submission on ${s.ports.submission}`,
      () =>
        tlsProbe({
          localAddress: PROBE_ADDRESS,
          port: s.ports.submission,
          servername: s.hostname,
          starttls: 'smtp',
          timeoutMs: TIMEOUT_MS,
        }),
    ],
    [
      `IMAP on ${s.ports.imap}`,
      () =>
        tlsProbe({
          localAddress: PROBE_ADDRESS,
          port: s.ports.imap,
          servername: s.hostname,
          starttls: 'imap',
          timeoutMs: TIMEOUT_MS,
        }),
    ],
    [`LMTP on ${s.paths.lmtpSocket}`, () => lhlo(s.paths.lmtpSocket)],
  ];
  // Side by side: one after another, four handshakes took over a second on a loaded host.
  const failures = await Promise.all(
    checks.map(([what, check]) =>
      check().then(
        () => undefined,
        (err: Error) => `${what}: ${err.message}`,
      ),
    ),
  );
  const failure = failures.find((f) => f !== undefined);
  if (failure !== undefined) return { ok: false, reason: failure };
  return {
    ok: true,
    reason: `SMTP (${s.ports.smtp}, ${s.ports.submission}) and IMAP (${s.ports.imap}) answer with STARTTLS; LMTP answers`,
  };
}

/** Liveness: each master answers at all (the SMTP banner, the IMAP greeting), 2 s each. */
export async function mailAnswering(s: MailSettings): Promise<HealthResult> {
  const smtp = await tlsProbe({
    localAddress: PROBE_ADDRESS,
    port: s.ports.submissions,
    servername: s.hostname,
    request: '',
    timeoutMs: TIMEOUT_MS,
  }).catch((err: Error) => err);
  if (smtp instanceof Error)
    return { ok: false, reason: `postfix does not answer on ${s.ports.submissions}: ${smtp.message}` };
  const imap = await tlsProbe({
    localAddress: PROBE_ADDRESS,
    port: s.ports.imaps,
    servername: s.hostname,
    request: '',
    timeoutMs: TIMEOUT_MS,
  }).catch((err: Error) => err);
  if (imap instanceof Error)
    return { ok: false, reason: `dovecot does not answer on ${s.ports.imaps}: ${imap.message}` };
  return { ok: true, reason: 'postfix and dovecot answer' };
}

/** LMTP (RFC 2033) on a Unix socket: the greeting, then LHLO answered with 250. */
async function lhlo(path: string): Promise<void> {
  const { connect } = await import('node:net');
  const socket = connect(path);
  const timer = setTimeout(() => socket.destroy(new Error(`no LMTP answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const reader = new LineReader(socket);
    const greeting = await smtpReply(reader);
    if (greeting.code !== 220) throw new Error(`greeting ${greeting.lines[0]}`);
    reader.write('LHLO podserve-probe');
    const reply = await smtpReply(reader);
    if (reply.code !== 250) throw new Error(`LHLO answered ${reply.lines[0]}`);
    reader.write('QUIT');
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
