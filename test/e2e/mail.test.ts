/**
 * The mail service in its Debian 13 image (postfix 3.10, dovecot 2.4, opendkim) through podman,
 * as users run it: a certificates volume filled by the certificates image, a state volume,
 * ports published on loopback, and real clients from the host (swaks, curl's IMAP) and in the
 * container (dovecot's own doveadm). The host's dovecot 2.3 could not read these configs.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecondHost, type SecondHost } from '../support/netns.js';
import { eventually, podman, podmanResult, uniqueSuffix } from '../support/podman.js';
import { DOVECOT_RELOAD_ABORT, tlsGreeting } from '../support/tls-session.js';

const CERTS = 'localhost/podserve-certificates:latest';
const MAIL = 'localhost/podserve-mail:latest';
const ADMIN_PASSWORD = 'admin password 0123';
const PORTS = { smtp: 25, submission: 587, submissions: 465, imap: 143, imaps: 993 } as const;

const created = { pods: [] as string[], containers: [] as string[], volumes: [] as string[] };
/** A second host (a network namespace), for the relay test and SMTP published on its link. */
let outside: SecondHost;
let outsidePort: number;
let work: string;
let certs: string;
let state: string;
let mail: string;
let host: Record<keyof typeof PORTS, number>;

/**
 * A command's exit code and output. On a timeout it is killed and the code is 124: podman exec
 * ended by a signal forwards it to the command and exits 0, which would read as success.
 */
async function output(cmd: string, args: string[], options: { timeoutMs?: number; input?: string } = {}) {
  const child = execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 30_000);
  // A command that reads no input may be gone before we write: that is not an error here.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(timedOut ? 124 : (c ?? 1))));
  clearTimeout(timer);
  if (timedOut) stderr += `\n${cmd} ${args.join(' ')}: timed out after ${options.timeoutMs ?? 30_000} ms`;
  return { code, stdout, stderr };
}

const ready = (id: string) => podmanResult(['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
const ctl = (id: string, args: string[], input?: string, timeoutMs?: number) =>
  output('podman', ['exec', ...(input === undefined ? [] : ['-i']), id, 'node', 'dist/main.js', 'ctl', ...args], {
    input,
    timeoutMs,
  });

/** swaks against a published port: the whole SMTP dialogue, for its replies. */
const swaks = (port: number, args: string[]) =>
  output('swaks', ['--server', `127.0.0.1:${port}`, '--timeout', '10', '--helo', 'client.test', ...args]);

/** One IMAP command over TLS as the user, the server's certificate checked against the pod's CA. */
const imaps = (user: string, password: string, path: string, command: string) =>
  output('curl', [
    '-s',
    '--max-time',
    '10',
    '--cacert',
    join(work, 'ca.pem'),
    '--resolve',
    `mail.example.test:${host.imaps}:127.0.0.1`,
    `imaps://mail.example.test:${host.imaps}/${path}`,
    '-u',
    `${user}:${password}`,
    ...(command === '' ? [] : ['-X', command]),
  ]);

async function startMail(): Promise<string> {
  writeFileSync(join(work, 'admin-password'), `${ADMIN_PASSWORD}\n`, { mode: 0o644 });
  const publish = [
    ...Object.values(PORTS).flatMap((p) => ['-p', `127.0.0.1::${p}`]),
    // SMTP also on the address the second host reaches.
    '-p',
    `${outside.hostSide}::${PORTS.smtp}`,
  ];
  const id = (
    await podman([
      'run',
      '-d',
      '-e',
      'DOMAIN=example.test',
      '-e',
      'MAIL_ADMIN_ADDRESS=admin@example.test',
      '-e',
      'MAIL_ADMIN_PASSWORD_FILE=/run/secrets/admin-password',
      '-v',
      `${join(work, 'admin-password')}:/run/secrets/admin-password:ro`,
      '-v',
      `${certs}:/data/state/certificates:ro`,
      '-v',
      `${state}:/data/state/mail`,
      ...publish,
      MAIL,
      'mail',
    ])
  ).trim();
  created.containers.push(id);
  return id;
}

/** The certificates image on the test's volume: `init` fills it, `renew` publishes a new generation. */
const certificates = (mode: 'init' | 'renew') =>
  podman([
    'run',
    '--rm',
    '-e',
    'DOMAIN=example.test',
    '-e',
    'CERT_SANS=mail.example.test',
    '-v',
    `${certs}:/data/state/certificates`,
    CERTS,
    'certificates',
    '--mode',
    mode,
  ]);

/**
 * Each test starts from a ready service, whichever ran before it (or none, with -t). Readiness
 * is re-evaluated every 15 s (and on every change), so one probe that timed out under load
 * can leave it false that long: the wait allows 45 s, says on stderr what it saw when it took
 * over 15 s, and on a timeout fails with each reason seen and the service's last log lines.
 */
async function readyNow(): Promise<void> {
  const started = Date.now();
  const seen = new Set<string>();
  await eventually(
    async () => {
      const r = await ready(mail);
      if (r.code !== 0) seen.add(`${r.stdout}${r.stderr}`.trim());
      return r.code === 0;
    },
    45_000,
    'mail readiness',
  ).catch(async (err: Error) => {
    const logs = (await podmanResult(['logs', '--tail', '40', mail])).stdout;
    throw new Error(`${err.message}; readiness said: ${[...seen].join(' | ')}\nlast log lines:\n${logs}`);
  });
  const tookMs = Date.now() - started;
  if (tookMs > 15_000) console.warn(`mail readiness took ${tookMs} ms; it said: ${[...seen].join(' | ')}`);
}

/** A plain-text IMAP session: the greeting, then each command and its tagged answer; all that was said. */
function plainImap(port: number, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(new Error(`IMAP on ${port} did not answer within 5 s`)), 5_000);
    let text = '';
    let sent = 0;
    socket.on('data', (d) => {
      text += d.toString();
      // The greeting, then one tagged answer per command: the next command goes then.
      const tagged = text.split('\r\n').filter((l) => /^[a-z] (OK|NO|BAD)\b/.test(l)).length;
      if (/^\* OK/m.test(text) && tagged === sent && sent < commands.length) socket.write(`${commands[sent++]}\r\n`);
      else if (tagged === commands.length) {
        clearTimeout(timer);
        socket.end('z LOGOUT\r\n');
        resolve(text);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One TLS session on an implicit-TLS port (465, 993): handshake, greeting, goodbye; the served fingerprint. */
const session = (name: keyof typeof PORTS, greeting: RegExp, goodbye: string) =>
  tlsGreeting({ port: host[name], servername: 'mail.example.test', greeting, goodbye });
/** openssl's client after STARTTLS (SMTP on 25 and 587, IMAP on 143): the certificate's SHA-256 fingerprint. */
async function starttlsFingerprint(port: number, protocol: 'smtp' | 'imap'): Promise<string> {
  const s = await output(
    'openssl',
    ['s_client', '-starttls', protocol, '-connect', `127.0.0.1:${port}`, '-servername', 'mail.example.test'],
    { input: '' },
  );
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.stdout)?.[0];
  if (!pem) throw new Error(`no certificate after STARTTLS on ${port}: ${s.stderr.slice(0, 200)}`);
  return new X509Certificate(pem).fingerprint256;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logged-in IMAPS client (imapflow), and whether the server has closed it. */
async function imapSession(user: string, pass: string): Promise<{ client: ImapFlow; readonly closed: boolean }> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: host.imaps,
    secure: true,
    logger: false,
    tls: { ca: readFileSync(join(work, 'ca.pem')), servername: 'mail.example.test' },
    auth: { user, pass },
  });
  let closed = false;
  client.on('close', () => {
    closed = true;
  });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen('INBOX');
  return {
    client,
    get closed() {
      return closed;
    },
  };
}

const smtps = () => session('submissions', /^220 .*\r\n/m, 'QUIT\r\n');
const imapsGreeting = () => session('imaps', /^\* OK .*\r\n/m, 'a LOGOUT\r\n');

const publishedPort = async (id: string, port: number) =>
  Number(
    (await podman(['port', id, `${port}/tcp`]))
      .split('\n')
      .find((l) => l.startsWith('127.0.0.1:'))
      ?.split(':')
      .pop(),
  );

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'podserve-mail-e2e-'));
  const suffix = uniqueSuffix();
  certs = `podserve-mail-certs-${suffix}`;
  state = `podserve-mail-state-${suffix}`;
  for (const v of [certs, state]) {
    await podman(['volume', 'create', v]);
    created.volumes.push(v);
  }
  await certificates('init');
  const ca = await podman(['run', '--rm', '-v', `${certs}:/c:ro`, '--entrypoint', 'cat', CERTS, '/c/ca.pem']);
  writeFileSync(join(work, 'ca.pem'), ca);
  outside = await createSecondHost('podserve-mail');
  mail = await startMail();
  outsidePort = Number(
    (await podman(['port', mail, `${PORTS.smtp}/tcp`]))
      .split('\n')
      .find((l) => l.startsWith(outside.hostSide))
      ?.split(':')
      .pop(),
  );
  host = Object.fromEntries(
    await Promise.all(Object.entries(PORTS).map(async ([k, p]) => [k, await publishedPort(mail, p)])),
  ) as typeof host;
}, 180_000);

afterAll(async () => {
  for (const id of created.containers) await podmanResult(['rm', '-f', '-v', '-t', '0', id]);
  for (const id of created.pods) await podmanResult(['pod', 'rm', '-f', id]);
  for (const v of created.volumes) await podmanResult(['volume', 'rm', '-f', v]);
  await outside?.remove();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('mail in its image', () => {
  it('is ready within 30 s, and status lists the daemons and the generation postfix and dovecot each serve', async () => {
    await eventually(async () => (await ready(mail)).code === 0, 30_000, 'mail readiness');
    const status = JSON.parse((await ctl(mail, ['--json', 'status'])).stdout);
    expect(status.processes.map((p: { name: string }) => p.name)).toEqual(['opendkim', 'dovecot', 'postfix']);
    expect(status.details.servedBy).toEqual({
      postfix: status.details.latestGeneration,
      dovecot: status.details.latestGeneration,
    });
  });

  it('takes a user from ctl, mail on 587 after STARTTLS and AUTH, delivers it over LMTP, DKIM-signed, and serves it over IMAPS', async () => {
    await readyNow();
    const add = await ctl(mail, ['users', 'add', 'alice@example.test', '--password-stdin'], 'alice password 0123\n');
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ address: 'alice@example.test' });
    // dovecot's own verdict on the stored hash.
    const auth = await podmanResult([
      'exec',
      mail,
      'doveadm',
      '-c',
      '/run/podserve-mail/dovecot/current/dovecot.conf',
      'auth',
      'test',
      'alice@example.test',
      'alice password 0123',
    ]);
    expect(auth.code, auth.stdout + auth.stderr).toBe(0);

    const sent = await swaks(host.submission, [
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'alice@example.test',
      '--auth-password',
      'alice password 0123',
      '--from',
      'alice@example.test',
      '--to',
      'admin@example.test',
      '--header',
      'Subject: journey 587',
    ]);
    expect(sent.stdout).toMatch(/<~ {2}250 2\.0\.0 Ok: queued as/);
    await eventually(
      async () =>
        (await imaps('admin@example.test', ADMIN_PASSWORD, 'INBOX', 'SEARCH SUBJECT "journey 587"')).stdout.includes(
          '* SEARCH 1',
        ),
      10_000,
      'the message in the INBOX',
    );
    const header = await imaps('admin@example.test', ADMIN_PASSWORD, 'INBOX;UID=1', '');
    expect(header.stdout).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/simple; d=example\.test;\s+s=mail;/m);
    expect(header.stdout).toContain('Subject: journey 587');
  });

  it('refuses to relay for a client on another host (a network namespace) that has not authenticated', async () => {
    await readyNow();
    const fromOutside = (to: string) =>
      output('ip', [
        'netns',
        'exec',
        outside.ns,
        'swaks',
        '--server',
        `${outside.hostSide}:${outsidePort}`,
        '--timeout',
        '10',
        '--helo',
        'outside.test',
        '--from',
        'someone@outside.test',
        '--to',
        to,
      ]);
    const relay = await fromOutside('victim@elsewhere.test');
    expect(relay.stdout).toMatch(/<\*\* 554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied/);
    // The same client may deliver to a local user: it is refused for relaying, not unreachable.
    const local = await fromOutside('admin@example.test');
    expect(local.stdout).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);
    // postfix saw the outside address, not a gateway or loopback.
    expect((await podmanResult(['logs', mail])).stdout).toContain(`[${outside.client}]`);
  });

  it('refuses relaying without authentication, unknown recipients at RCPT, AUTH before STARTTLS, and a wrong password', async () => {
    await readyNow();
    const relay = await swaks(host.smtp, ['--from', 'someone@outside.test', '--to', 'victim@elsewhere.test']);
    expect(relay.stdout).toMatch(/<\*\* 554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied/);
    const unknown = await swaks(host.smtp, ['--from', 'someone@outside.test', '--to', 'nobody@example.test']);
    expect(unknown.stdout).toMatch(/<\*\* 550 5\.1\.1 <nobody@example\.test>: .*User unknown/);
    // postmaster@ reaches MAIL_ADMIN_ADDRESS.
    const postmaster = await swaks(host.smtp, ['--from', 'someone@outside.test', '--to', 'postmaster@example.test']);
    expect(postmaster.stdout).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);

    const plain = await swaks(host.submission, [
      '--auth',
      'PLAIN',
      '--auth-user',
      'admin@example.test',
      '--auth-password',
      ADMIN_PASSWORD,
      '--to',
      'admin@example.test',
    ]);
    expect(plain.stdout + plain.stderr).toMatch(
      /Host did not advertise authentication|530 5\.7\.0 Must issue a STARTTLS command first/,
    );
    const wrong = await swaks(host.submission, [
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'admin@example.test',
      '--auth-password',
      'not the password 99',
      '--to',
      'admin@example.test',
    ]);
    expect(wrong.stdout).toMatch(/<~\* 535 5\.7\.8 Error: authentication failed/);

    // IMAP on 143 before STARTTLS, by hand: LOGINDISABLED in the greeting, and a LOGIN refused.
    const imap = await plainImap(host.imap, ['a CAPABILITY', `b LOGIN admin@example.test "${ADMIN_PASSWORD}"`]);
    expect(imap).toMatch(/^\* OK \[CAPABILITY [^\]]*\bLOGINDISABLED\b/m);
    expect(imap).toMatch(/^b NO \[PRIVACYREQUIRED\]/m);
  });

  it('adds 50 users at once: all present, the file consistent, each one known to dovecot and postfix', async () => {
    await readyNow();
    const adds = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        // 50 additions run one after another in the service (each hashes a password): on a
        // loaded host the last waits well over the default 30 s.
        ctl(mail, ['users', 'add', `user${i}@example.test`, '--password-stdin'], `password of user ${i}\n`, 150_000),
      ),
    );
    expect(adds.filter((a) => a.code !== 0).map((a) => a.stderr)).toEqual([]);
    const users = JSON.parse((await ctl(mail, ['--json', 'users'])).stdout) as Array<{ address: string }>;
    const listed = new Set(users.map((u) => u.address));
    const missing = adds.flatMap((a, i) =>
      listed.has(`user${i}@example.test`) ? [] : [`user${i}: ${a.stdout.trim()}`],
    );
    expect(missing, 'each missing user with what its addition answered').toEqual([]);
    const file = await podman(['exec', mail, 'cat', '/data/state/mail/users.passwd']);
    const lines = file.trim().split('\n');
    expect(new Set(lines.map((l) => l.split(':')[0])).size).toBe(lines.length);
    for (const line of lines)
      expect(line).toMatch(
        /^[a-z0-9.@]+:\{SHA512-CRYPT\}\$6\$rounds=20000\$[^:]+:5000:5000::\/data\/state\/mail\/mailboxes\/[^:]+::$/,
      );
    const auth = await podmanResult([
      'exec',
      mail,
      'doveadm',
      '-c',
      '/run/podserve-mail/dovecot/current/dovecot.conf',
      'auth',
      'test',
      'user37@example.test',
      'password of user 37',
    ]);
    expect(auth.code).toBe(0);
    // postfix asks PID 1 (socketmap) and knows the new user at once: accepted at RCPT.
    const inbound = await swaks(host.smtp, ['--from', 'someone@outside.test', '--to', 'user49@example.test']);
    expect(inbound.stdout).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);
    // The password never reached the log.
    expect((await podmanResult(['logs', mail])).stdout).not.toContain('password of user');
  }, 200_000);

  it('restarts a master killed with SIGKILL and is ready again', async () => {
    await readyNow();
    const before = JSON.parse((await ctl(mail, ['--json', 'status'])).stdout);
    const postfix = before.processes.find((p: { name: string }) => p.name === 'postfix');
    await podman(['exec', mail, 'kill', '-9', String(postfix.pid)]);
    await eventually(
      async () => {
        const s = JSON.parse((await ctl(mail, ['--json', 'status'])).stdout);
        const p = s.processes.find((x: { name: string }) => x.name === 'postfix');
        return p.restarts === postfix.restarts + 1 && p.state === 'running' && s.readiness.ok;
      },
      30_000,
      'postfix restarted and the service ready',
    );
    const inbound = await swaks(host.smtp, ['--from', 'someone@outside.test', '--to', 'admin@example.test']);
    expect(inbound.stdout).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);
  });

  it('follows 10 forced renewals while TLS sessions run on 465 and 993: none fails (but dovecot reload aborts), each new certificate served within 5 s', async () => {
    await readyNow();
    let running = true;
    const outcomes = { ok: 0, failed: [] as string[], reloadAborted: [] as string[] };
    // One client loop per port. A session dovecot itself ends during its reload is a known
    // dovecot 2.4 behaviour (README, mail: "Certificates"): it says "Server shutting down" or
    // closes before TLS, and the client's next attempt is served. Anything else fails the test.
    const loop = async (session: () => Promise<string>, reloadAbortable: boolean) => {
      while (running) {
        try {
          await session();
          outcomes.ok++;
        } catch (err) {
          const message = (err as Error).message;
          if (reloadAbortable && DOVECOT_RELOAD_ABORT.test(message)) {
            await session().then(
              () => outcomes.reloadAborted.push(message),
              (again: Error) => outcomes.failed.push(`${message}; and again: ${again.message}`),
            );
          } else outcomes.failed.push(message);
        }
      }
    };
    const load = Promise.all([loop(smtps, false), loop(imapsGreeting, true)]);
    // A mail client that stays logged in (IDLE, as most do) across every renewal.
    const session = await imapSession('admin@example.test', ADMIN_PASSWORD);
    const delays: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        await certificates('renew');
        const published = Date.now();
        const pem = await podman(['exec', mail, 'cat', '/data/state/certificates/cert.pem']);
        const want = new X509Certificate(pem).fingerprint256;
        await eventually(
          async () => (await smtps()) === want && (await imapsGreeting()) === want,
          10_000,
          `renewal ${i + 1} served on 465 and 993`,
        );
        delays.push(Date.now() - published);
      }
    } finally {
      running = false;
      await load;
    }
    // Still logged in, more than 6 s after the last reload (dovecot's default would have ended it).
    await sleep(7_000);
    expect(session.closed, 'the logged-in IMAP session was closed by a renewal').toBe(false);
    await session.client.noop();
    await session.client.logout();
    console.log(
      `renewals under load: ${outcomes.ok} sessions ok, ${outcomes.reloadAborted.length} ended by dovecot's reload and served on a retry`,
    );
    expect(outcomes.failed, `${outcomes.ok} sessions ok`).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(20);
    // Measured: about one reload in forty ends the one session in flight; one in three would
    // mean reloads end every connection they meet.
    expect(outcomes.reloadAborted.length, outcomes.reloadAborted.join('\n')).toBeLessThanOrEqual(3);
    expect(Math.max(...delays), `publish → served on both, ms: ${delays.join(', ')}`).toBeLessThan(5_000);
    // After STARTTLS on 25, 587 and 143 too; and status says which generation each daemon serves.
    const served = await smtps();
    expect(await starttlsFingerprint(host.smtp, 'smtp')).toBe(served);
    expect(await starttlsFingerprint(host.submission, 'smtp')).toBe(served);
    expect(await starttlsFingerprint(host.imap, 'imap')).toBe(served);
    const status = JSON.parse((await ctl(mail, ['--json', 'status'])).stdout);
    expect(status.details.servedBy).toEqual({
      postfix: status.details.latestGeneration,
      dovecot: status.details.latestGeneration,
    });
    expect(status.readiness.ok).toBe(true);
  }, 300_000);

  it('keeps the users file whole and says why when the disk is full during an addition', async () => {
    // A state "volume" of its own: a 16 MiB tmpfs, filled up by the test.
    const id = (
      await podman([
        'run',
        '-d',
        '-e',
        'DOMAIN=example.test',
        '--mount',
        'type=tmpfs,destination=/data/state/mail,tmpfs-size=16m',
        '-v',
        `${certs}:/data/state/certificates:ro`,
        MAIL,
        'mail',
      ])
    ).trim();
    created.containers.push(id);
    await eventually(async () => (await ready(id)).code === 0, 30_000, 'the second mail container ready');
    expect(
      (await ctl(id, ['users', 'add', 'first@example.test', '--password-stdin'], 'first password 123\n')).code,
    ).toBe(0);
    const before = await podman(['exec', id, 'cat', '/data/state/mail/users.passwd']);
    await podmanResult(['exec', id, 'dd', 'if=/dev/zero', 'of=/data/state/mail/filler', 'bs=64k']);

    const full = await ctl(id, ['users', 'add', 'second@example.test', '--password-stdin'], 'second password 12\n');
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(
      /could not add user second@example\.test: .*no space left on the mail state volume; nothing was changed/,
    );
    expect(await podman(['exec', id, 'cat', '/data/state/mail/users.passwd'])).toBe(before);
    expect(
      (
        await podmanResult(['exec', id, 'sh', '-c', 'ls -a /data/state/mail | grep -c "\\.tmp$" || true'])
      ).stdout.trim(),
    ).toBe('0');
    // dovecot still knows the first user; the second is not half there.
    const auth = await podmanResult([
      'exec',
      id,
      'doveadm',
      '-c',
      '/run/podserve-mail/dovecot/current/dovecot.conf',
      'auth',
      'test',
      'first@example.test',
      'first password 123',
    ]);
    expect(auth.code).toBe(0);

    await podman(['exec', id, 'rm', '/data/state/mail/filler']);
    expect(
      (await ctl(id, ['users', 'add', 'second@example.test', '--password-stdin'], 'second password 12\n')).code,
    ).toBe(0);
  }, 120_000);

  it('--dry-run shows the three processes, every rendered file and each checker’s verdict, and starts nothing', async () => {
    const result = await podmanResult([
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-v',
      `${certs}:/data/state/certificates:ro`,
      MAIL,
      'mail',
      '--dry-run',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^# process postfix: \/usr\/lib\/postfix\/sbin\/master -c \/run\/podserve-mail\/postfix\/current -s/m,
    );
    expect(result.stdout).toMatch(/^# process dovecot: \/usr\/sbin\/dovecot -F -c/m);
    expect(result.stdout).toMatch(/^# process opendkim: \/usr\/sbin\/opendkim -f -x/m);
    expect(result.stdout).toMatch(/^mynetworks =$/m);
    expect(result.stdout).toContain('smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination');
    expect(result.stdout).toContain('dovecot_config_version = 2.4.0');
    for (const verdict of ['postconf: OK', 'doveconf -n: OK', 'opendkim -n: OK'])
      expect(result.stderr).toContain(`dry run: ${verdict}`);
    // Nothing was made: no key, no users file, on a volume it was not even given.
    expect(result.stderr).not.toContain('made a DKIM key');
  });

  it('sends outgoing mail through MAIL_RELAY_HOST (an external MTA, npm smtp-server) over TLS with its credentials, DKIM-signed with a signature that verifies', async () => {
    // The external MTA: on the host end of the test's own veth pair, STARTTLS and AUTH required.
    await output('openssl', [
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
      '/CN=relay.test',
      '-keyout',
      join(work, 'relay.key'),
      '-out',
      join(work, 'relay.pem'),
    ]);
    const received: Array<{ from: string; to: string[]; user: string | undefined; secure: boolean; message: Buffer }> =
      [];
    const relay = new SMTPServer({
      key: readFileSync(join(work, 'relay.key')),
      cert: readFileSync(join(work, 'relay.pem')),
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'relay-user' && auth.password === 'relay password 42')
          callback(null, { user: auth.username });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
            secure: session.secure,
            message: Buffer.concat(chunks),
          });
          callback();
        });
      },
    });
    relay.on('error', () => undefined);
    await new Promise<void>((resolve) => relay.listen(0, outside.hostSide, resolve));
    const relayPort = (relay.server.address() as { port: number }).port;
    try {
      writeFileSync(join(work, 'relay-password'), 'relay password 42\n');
      const id = (
        await podman([
          'run',
          '-d',
          '-e',
          'DOMAIN=example.test',
          '-e',
          `MAIL_RELAY_HOST=[${outside.hostSide}]:${relayPort}`,
          '-e',
          'MAIL_RELAY_USER=relay-user',
          '-e',
          'MAIL_RELAY_PASSWORD_FILE=/run/secrets/relay-password',
          '-v',
          `${join(work, 'relay-password')}:/run/secrets/relay-password:ro`,
          '-v',
          `${certs}:/data/state/certificates:ro`,
          '-p',
          `127.0.0.1::${PORTS.submission}`,
          MAIL,
          'mail',
        ])
      ).trim();
      created.containers.push(id);
      await eventually(async () => (await ready(id)).code === 0, 30_000, 'the relaying mail container ready');
      expect(
        (await ctl(id, ['users', 'add', 'carol@example.test', '--password-stdin'], 'carol password 12\n')).code,
      ).toBe(0);
      const submission = await publishedPort(id, PORTS.submission);
      const sent = await swaks(submission, [
        '--tls',
        '--auth',
        'PLAIN',
        '--auth-user',
        'carol@example.test',
        '--auth-password',
        'carol password 12',
        '--from',
        'carol@example.test',
        '--to',
        'dave@elsewhere.test',
        '--header',
        'Subject: out through the relay',
      ]);
      expect(sent.stdout).toMatch(/<~ {2}250 2\.0\.0 Ok: queued as/);
      await eventually(async () => received.length > 0, 20_000, 'the message at the relay').catch(
        async (err: Error) => {
          // What postfix said about it: the reason is in its delivery line.
          const said = (await podmanResult(['logs', id])).stdout
            .split('\n')
            .filter((l) => /status=|warning|relay=/.test(l));
          throw new Error(`${err.message}\n${said.slice(-5).join('\n')}`);
        },
      );
      const got = received[0] as (typeof received)[number];
      expect(got).toMatchObject({
        from: 'carol@example.test',
        to: ['dave@elsewhere.test'],
        user: 'relay-user',
        secure: true,
      });

      const [dkim] = JSON.parse((await ctl(id, ['--json', 'dkim'])).stdout) as Array<{ name: string; value: string }>;
      expect(dkim?.name).toBe('mail._domainkey.example.test');
      const verdict = await dkimVerify(got.message, {
        resolver: async (name: string, type: string) => {
          if (name === dkim?.name && type === 'TXT') return [[dkim.value]];
          throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
        },
      });
      expect(verdict.results.map((r: { status: { result: string } }) => r.status.result)).toEqual(['pass']);
      expect(verdict.results[0]).toMatchObject({ signingDomain: 'example.test', selector: 'mail' });
      // The relay password went to postfix alone: never into the log.
      expect((await podmanResult(['logs', id])).stdout).not.toContain('relay password 42');
    } finally {
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  }, 120_000);

  it('publishes its DKIM record into the pod’s dns service by RFC 2136, with a key that may write nothing else', async () => {
    // dns and mail in one pod (one network namespace) sharing a state volume, as pod.yaml has them.
    const pod = (await podman(['pod', 'create', '--name', `podserve-mail-dns-${uniqueSuffix()}`])).trim();
    created.pods.push(pod);
    const podState = `podserve-mail-pod-state-${uniqueSuffix()}`;
    await podman(['volume', 'create', podState]);
    created.volumes.push(podState);
    const run = async (args: string[]) => {
      const id = (
        await podman(['run', '-d', '--pod', pod, '-e', 'DOMAIN=example.test', '-v', `${podState}:/data/state`, ...args])
      ).trim();
      created.containers.push(id);
      return id;
    };
    const dns = await run(['-e', 'DNS_FORWARDERS=127.0.0.1#9', 'localhost/podserve-dns:latest', 'dns']);
    const podMail = await run(['-v', `${certs}:/data/state/certificates:ro`, MAIL, 'mail']);
    for (const id of [dns, podMail])
      await eventually(async () => (await ready(id)).code === 0, 40_000, 'dns and mail ready');

    const [record] = JSON.parse((await ctl(podMail, ['--json', 'dkim'])).stdout) as Array<{
      name: string;
      value: string;
    }>;
    const served = async () =>
      (
        await podmanResult(['exec', podMail, 'dig', '@127.0.0.1', '+short', 'TXT', 'mail._domainkey.example.test'])
      ).stdout
        .trim()
        .replace(/" "/g, '')
        .replace(/^"|"$/g, '');
    await eventually(async () => (await served()) === record?.value, 30_000, 'the DKIM record served by dns').catch(
      async (err: Error) => {
        const said = (await podmanResult(['logs', podMail])).stdout.split('\n').filter((l) => /DKIM|nsupdate/.test(l));
        throw new Error(`${err.message}; served: ${await served()}\n${said.slice(-4).join('\n')}`);
      },
    );
    const status = JSON.parse((await ctl(podMail, ['--json', 'status'])).stdout);
    expect(status.details.dkim).toMatchObject({ names: ['mail._domainkey.example.test'], published: true });

    // The same key for anything else (an address, a TXT outside _domainkey): refused by named's update-policy.
    const other = await output(
      'podman',
      ['exec', '-i', podMail, 'nsupdate', '-k', '/data/state/dns/tsig/dkim-update.key', '-t', '5'],
      {
        input: 'server 127.0.0.1 53\nzone example.test.\nupdate add www.example.test. 300 A 192.0.2.66\nsend\n',
      },
    );
    expect(other.stdout + other.stderr).toMatch(/REFUSED/);
    const dmarc = await output(
      'podman',
      ['exec', '-i', podMail, 'nsupdate', '-k', '/data/state/dns/tsig/dkim-update.key', '-t', '5'],
      {
        input:
          'server 127.0.0.1 53\nzone example.test.\nupdate add _dmarc.example.test. 300 TXT "v=DMARC1; p=none"\nsend\n',
      },
    );
    expect(dmarc.stdout + dmarc.stderr).toMatch(/REFUSED/);
  }, 150_000);
  // Last: it stops the container the tests above share.
  it('stops on SIGTERM inside the grace period with exit 0 while an IMAP session is logged in, nothing SIGKILLed', async () => {
    await readyNow();
    const session = await imapSession('admin@example.test', ADMIN_PASSWORD);
    const t0 = Date.now();
    await podman(['stop', '-t', '30', mail]);
    const stopMs = Date.now() - t0;
    const state = JSON.parse(await podman(['inspect', mail, '--format', '{{json .State}}']));
    expect(state.ExitCode).toBe(0);
    expect(stopMs).toBeLessThan(15_000);
    const logs = (await podmanResult(['logs', mail])).stdout;
    expect(logs).not.toMatch(/sending SIGKILL|did not stop within/);
    await eventually(async () => session.closed, 5_000, 'the IMAP session ended by the stop');
  }, 90_000);
});
