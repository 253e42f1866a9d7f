/**
 * Mail service benchmarks for `npm run bench`, in the mail image through podman, side by side in
 * the same run: messages accepted per second on 587 (STARTTLS + AUTH, DKIM-signed, delivered over
 * LMTP) under PodServe vs the same rendered postfix, dovecot and opendkim configs started bare,
 * submit → visible over IMAP on both, cold start → ready, and PID 1's RSS next to a bare Node in
 * the same container. Clients are nodemailer (a pool of SMTP connections) and imapflow.
 *
 * The bare stack differs from PodServe's in one place it must: PID 1 answers postfix's user and
 * alias lookups over a socketmap, which a bare postfix has no one to ask, so its main.cf names
 * texthash files holding the same users instead. That lookup is a cost PodServe's design adds,
 * and this is where it shows.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer, { type Transporter } from 'nodemailer';
import { median, ok, podman, runtimeRssRow, sleep, tableRows } from './bench-support.js';

const CERTS = 'localhost/podserve-certificates:latest';
const MAIL = 'localhost/podserve-mail:latest';
const USER = 'bench@example.test';
const PASSWORD = 'bench password 0123';
const HOSTNAME = 'mail.example.test';
/** Messages per side, in alternating rounds: 4 × 250 = 1000. */
const ROUNDS = 4;
const PER_ROUND = 250;
/** SMTP connections each side's client keeps open (postfix allows 20 per client address). */
const CONNECTIONS = 8;
const LATENCY_SAMPLES = 20;

/**
 * The bare stack: the PodServe container's rendered configs and state (users, DKIM key; a fresh
 * queue and mailboxes) unpacked with their owners, postfix's socketmap lookups swapped for
 * texthash files of the same users, then the three daemons with the arguments PodServe gives them.
 */
const BARE_SCRIPT = `set -e
tar -xpf /seed/mail.tar -C /
P=$(readlink -f /run/podserve-mail/postfix/current)
mkdir -p /run/bare
cut -d: -f1 /data/state/mail/users.passwd | sed 's/$/ OK/' > /run/bare/mailbox
: > /run/bare/alias
sed -i -e 's#socketmap:unix:[^ ]*:mailbox#texthash:/run/bare/mailbox#' \\
  -e 's#socketmap:unix:[^ ]*:alias#texthash:/run/bare/alias#' "$P/main.cf"
grep -q '^[^#]*socketmap:' "$P/main.cf" && { echo "a socketmap is left in $P/main.cf" >&2; exit 1; }
postfix -c "$P" check
/usr/sbin/opendkim -f -x /run/podserve-mail/opendkim/current/opendkim.conf &
/usr/sbin/dovecot -F -c /run/podserve-mail/dovecot/current/dovecot.conf &
/usr/lib/postfix/sbin/master -c "$P" -s &
wait`;

type Side = 'sup' | 'bare';

interface Endpoint {
  smtp: number;
  imaps: number;
}

export async function mailRows(): Promise<string[]> {
  const { rows, row } = tableRows();
  if (!ok('podman', ['image', 'exists', MAIL]) || !ok('podman', ['image', 'exists', CERTS])) {
    row('mail rows', 'skipped: run scripts/images.sh build', '', null);
    return rows;
  }
  const suffix = `${process.pid}`;
  const certs = `podserve-bench-mail-certs-${suffix}`;
  const containers: string[] = [];
  const volumes: string[] = [certs];
  const work = mkdtempSync(join(tmpdir(), 'podserve-bench-mail-'));
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const run = (...args: string[]) => {
    const id = podman('run', '-d', ...args);
    containers.push(id);
    return id;
  };
  const port = (id: string, p: number) => Number(podman('port', id, `${p}/tcp`).split(':').pop());
  const endpoint = (id: string): Endpoint => ({ smtp: port(id, 587), imaps: port(id, 993) });
  const ready = (id: string) => ok('podman', ['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
  const publish = ['-p', '127.0.0.1::587', '-p', '127.0.0.1::993'];
  try {
    podman('volume', 'create', certs);
    podman(
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-e',
      `CERT_SANS=${HOSTNAME}`,
      '-v',
      `${certs}:/data/state/certificates`,
      CERTS,
      'certificates',
      '--mode',
      'init',
    );

    // Cold start → ready (podman run included) on a fresh state volume each time, so each start
    // makes its DKIM key and queue; median of 3. The last one stays for the rest.
    const starts: number[] = [];
    let sup = '';
    for (let i = 0; i < 3; i++) {
      const state = `podserve-bench-mail-${suffix}-${i}`;
      podman('volume', 'create', state);
      volumes.push(state);
      const t0 = performance.now();
      sup = run(
        '-e',
        'DOMAIN=example.test',
        '-v',
        `${certs}:/data/state/certificates:ro`,
        '-v',
        `${state}:/data/state/mail`,
        ...publish,
        MAIL,
        'mail',
      );
      while (!ready(sup)) {
        if (performance.now() - t0 > 60_000) throw new Error('the mail container was not ready within 60 s');
        await sleep(50);
      }
      starts.push(performance.now() - t0);
      if (i < 2) podman('rm', '-f', '-v', '-t', '0', sup);
    }
    row(
      'mail cold start → ready, fresh state (DKIM key made; podman run included, median of 3)',
      `${median(starts).toFixed(0)} ms`,
      '< 10000 ms',
      median(starts) < 10_000,
    );
    execFileSync(
      'podman',
      ['exec', '-i', sup, 'node', 'dist/main.js', 'ctl', 'users', 'add', USER, '--password-stdin'],
      {
        input: `${PASSWORD}\n`,
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    const ca = podman('exec', sup, 'cat', '/data/state/certificates/ca.pem');

    // The bare stack, from this container's rendered configs and state (see BARE_SCRIPT).
    writeFileSync(
      join(work, 'mail.tar'),
      execFileSync(
        'podman',
        [
          'exec',
          sup,
          'tar',
          '-C',
          '/',
          '--exclude=run/podserve-mail/sockets/*',
          '--exclude=run/podserve-mail/dovecot-base/*',
          '--exclude=data/state/mail/queue/*',
          '--exclude=data/state/mail/mailboxes/*',
          '--exclude=data/state/certificates/ca',
          '-cpf',
          '-',
          'run/podserve-mail',
          'data/state/mail',
          'data/state/certificates',
        ],
        { maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
      ),
    );
    const bare = run(...publish, '-v', `${work}:/seed:ro`, '--entrypoint', 'sh', MAIL, '-c', BARE_SCRIPT);

    // Before any load (the bare stack starts meanwhile, in its own container).
    await runtimeRssRow(sup, 'mail', row);

    const ends: Record<Side, Endpoint> = { sup: endpoint(sup), bare: endpoint(bare) };
    const clients = {} as Record<Side, MailClients>;
    for (const side of ['sup', 'bare'] as const) {
      clients[side] = await connectClients(ends[side], ca);
      closers.push(() => clients[side].close());
    }

    // Warm-up: every pooled connection is open and authenticated before anything is timed.
    for (const side of ['sup', 'bare'] as const) await submitMany(clients[side], 4 * CONNECTIONS, `warm-${side}`);
    const expected: Record<Side, number> = { sup: 4 * CONNECTIONS, bare: 4 * CONNECTIONS };
    for (const side of ['sup', 'bare'] as const) await clients[side].delivered(expected[side], 60_000);

    // Rounds alternate (ABBA…); each waits until the round's mail is delivered, so no side's
    // LMTP deliveries run into the other side's round.
    const seconds: Record<Side, number[]> = { sup: [], bare: [] };
    const cpuMs: Record<Side | 'pid1', number> = { sup: 0, bare: 0, pid1: 0 };
    const ids: Record<Side, string> = { sup, bare };
    const pid1 = Number(podman('inspect', sup, '--format', '{{.State.Pid}}'));
    for (let i = 0; i < ROUNDS; i++) {
      const order: Side[] = i % 2 === 0 ? ['sup', 'bare'] : ['bare', 'sup'];
      for (const side of order) {
        const cpu0 = containerCpuMs(ids[side]);
        const pid10 = processCpuMs(pid1);
        const t0 = performance.now();
        await submitMany(clients[side], PER_ROUND, `round-${i}`);
        seconds[side].push((performance.now() - t0) / 1000);
        expected[side] += PER_ROUND;
        await clients[side].delivered(expected[side], 120_000);
        cpuMs[side] += containerCpuMs(ids[side]) - cpu0;
        if (side === 'sup') cpuMs.pid1 += processCpuMs(pid1) - pid10;
      }
    }
    if (process.env.BENCH_VERBOSE) console.error(JSON.stringify(seconds));
    const rate = (side: Side) => (ROUNDS * PER_ROUND) / seconds[side].reduce((a, b) => a + b, 0);
    const ratio = rate('sup') / rate('bare');
    row(
      `mail messages accepted/s on 587 (STARTTLS + AUTH, DKIM-signed; ${ROUNDS * PER_ROUND} per side over ${CONNECTIONS} connections, ${ROUNDS} alternating rounds; all delivered)`,
      `PodServe ${rate('sup').toFixed(1)}, bare postfix + dovecot + opendkim ${rate('bare').toFixed(1)} (${ratio.toFixed(3)}×)`,
      '≥ 0.97 × bare',
      ratio >= 0.97,
    );

    // Where the difference goes: CPU per message, whole container (every daemon and PID 1).
    const perMessage = (ms: number) => (ms / (ROUNDS * PER_ROUND)).toFixed(2);
    row(
      'mail CPU per message, whole container, during the rounds above (PID 1: supervision, socketmap lookups, every daemon log line)',
      `PodServe ${perMessage(cpuMs.sup)} ms (PID 1 ${perMessage(cpuMs.pid1)} ms), bare ${perMessage(cpuMs.bare)} ms`,
      '',
      null,
    );

    // Submit → visible over IMAP: one message at a time on an open connection, until IMAP's
    // STATUS counts it; alternating sides.
    const delays: Record<Side, number[]> = { sup: [], bare: [] };
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      for (const side of i % 2 === 0 ? (['sup', 'bare'] as const) : (['bare', 'sup'] as const)) {
        const t0 = performance.now();
        await submitMany(clients[side], 1, `latency-${i}`);
        expected[side] += 1;
        await clients[side].delivered(expected[side], 10_000, 5);
        delays[side].push(performance.now() - t0);
      }
    }
    const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1] ?? Number.NaN;
    row(
      `mail submit on 587 → visible over IMAP (median / p95 of ${LATENCY_SAMPLES})`,
      `PodServe ${median(delays.sup).toFixed(0)} / ${p95(delays.sup).toFixed(0)} ms, bare ${median(delays.bare).toFixed(0)} / ${p95(delays.bare).toFixed(0)} ms`,
      '< 1000 ms',
      p95(delays.sup) < 1_000,
    );
  } catch (err) {
    row('mail rows', `failed: ${(err as Error).message.split('\n')[0]}`, '', false);
  } finally {
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    for (const id of containers) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', id], { stdio: 'ignore' });
    for (const v of volumes) spawnSync('podman', ['volume', 'rm', '-f', v], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

interface MailClients {
  smtp: Transporter;
  /** Resolves once the INBOX holds `count` messages, asking every `everyMs`. */
  delivered(count: number, timeoutMs: number, everyMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A pool of SMTP submission connections and one IMAP session, both as the bench user over TLS. */
async function connectClients(end: Endpoint, ca: string): Promise<MailClients> {
  const tls = { ca, servername: HOSTNAME };
  const smtp = nodemailer.createTransport({
    host: '127.0.0.1',
    port: end.smtp,
    name: 'client.example.net',
    requireTLS: true,
    tls,
    auth: { user: USER, pass: PASSWORD },
    pool: true,
    maxConnections: CONNECTIONS,
    maxMessages: Number.POSITIVE_INFINITY,
  });
  // Either stack may still be starting (the bare one has no readiness of its own).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await smtp.verify();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`submission on ${end.smtp} never worked: ${(err as Error).message}`);
      await sleep(200);
    }
  }
  const imap = new ImapFlow({
    host: '127.0.0.1',
    port: end.imaps,
    secure: true,
    tls,
    auth: { user: USER, pass: PASSWORD },
    logger: false,
  });
  await imap.connect();
  return {
    smtp,
    async delivered(count, timeoutMs, everyMs = 50) {
      const until = performance.now() + timeoutMs;
      for (;;) {
        const status = await imap.status('INBOX', { messages: true });
        const messages = status === false ? 0 : (status.messages ?? 0);
        if (messages >= count) return;
        if (performance.now() > until)
          throw new Error(`${messages} of ${count} messages delivered after ${timeoutMs} ms`);
        await sleep(everyMs);
      }
    },
    async close() {
      smtp.close();
      await imap.logout();
    },
  };
}

/** `count` messages from the bench user to itself, all queued on the pool at once. */
async function submitMany(clients: MailClients, count: number, tag: string): Promise<void> {
  const body = `${'The quick brown fox jumps over the lazy dog. '.repeat(20)}\n`;
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      clients.smtp.sendMail({
        from: USER,
        to: USER,
        subject: `bench ${tag} ${i}`,
        text: body,
      }),
    ),
  );
}

/** A container's CPU time so far, in ms, from its cgroup (v1 cpuacct or v2 cpu.stat). */
function containerCpuMs(id: string): number {
  const cgroup = podman('inspect', id, '--format', '{{.State.CgroupPath}}');
  const v1 = `/sys/fs/cgroup/cpuacct${cgroup}/cpuacct.usage`;
  if (existsSync(v1)) return Number(readFileSync(v1, 'utf8')) / 1e6;
  const stat = readFileSync(`/sys/fs/cgroup${cgroup}/cpu.stat`, 'utf8');
  return Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? Number.NaN) / 1e3;
}

/** One process's CPU time so far (user + system), in ms, from the host's /proc. */
function processCpuMs(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
