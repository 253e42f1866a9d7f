/**
 * What `npm run soak` runs against each service: how its container starts (with the volumes it
 * needs), the traffic it gets at a steady rate, and what one renewal is. Every request's answer
 * is checked, so a soak that stops serving is seen as failures, not as a flat line.
 */
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { queryDns } from '@podserve/dns';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { ok, podman, sleep } from './bench-support.js';

const CERTS = 'localhost/podserve-certificates:latest';
const APACHE = 'localhost/podserve-apache:latest';
const DNS = 'localhost/podserve-dns:latest';
const MAIL = 'localhost/podserve-mail:latest';
const DOMAIN = 'example.test';
/** Requests in flight at most: a slow service gets fewer requests, not an unbounded pile of them. */
const MAX_IN_FLIGHT = 64;

export interface Traffic {
  counts(): { ok: number; failed: number; failures: string };
  stop(): void;
  readonly stopped: boolean;
}

export interface Started {
  id: string;
  traffic(perSecond: number): Traffic;
  /** One renewal (the nth, from 0); resolves when it is done. */
  renew(n: number): Promise<void>;
}

export interface Workload {
  images: string[];
  /** What the traffic counts ("requests", "queries"). */
  unit: string;
  start(ctx: StartContext): Promise<Started>;
}

export interface StartContext {
  suffix: string;
  work: string;
  /** More `podman run` options for the service's container. */
  extraArgs: string[];
  /** More flags for PID 1's `node`, before the image's own entrypoint arguments end. */
  nodeFlags: string[];
  /** What the workload created, pushed as soon as it exists, so a failed start is cleaned up too. */
  created: { containers: string[]; volumes: string[] };
}

/** `--entrypoint` for an image's own `node … dist/main.js` with more node flags in front of the
 * script (NODE_OPTIONS refuses most V8 flags); nothing when there are none. */
function entrypointWith(image: string, nodeFlags: string[]): string[] {
  if (nodeFlags.length === 0) return [];
  const entrypoint = JSON.parse(podman('image', 'inspect', '--format', '{{json .Config.Entrypoint}}', image));
  const script = entrypoint.indexOf('dist/main.js');
  if (entrypoint[0] !== 'node' || script < 0) throw new Error(`${image}: entrypoint is not node … dist/main.js`);
  entrypoint.splice(script, 0, ...nodeFlags);
  return ['--entrypoint', JSON.stringify(entrypoint)];
}

const ready = (id: string) => ok('podman', ['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
const hostPort = (id: string, p: string) => Number(podman('port', id, p).split(':').pop());

async function untilReady(id: string): Promise<void> {
  for (let waited = 0; !ready(id); waited += 200) {
    if (waited > 60_000) throw new Error(`container ${id.slice(0, 12)} was not ready within 60 s`);
    await sleep(200);
  }
}

/** Calls `one` perSecond times a second, at most MAX_IN_FLIGHT at once, counting answers and
 * failures (by reason: the error's code, else the start of its message). */
export function steady(
  perSecond: number,
  one: (n: number) => Promise<void>,
): Traffic & { reasons(): ReadonlyMap<string, number> } {
  let okCount = 0;
  let failed = 0;
  let inFlight = 0;
  let n = 0;
  let stopped = false;
  const reasons = new Map<string, number>();
  const fail = (why: string) => {
    failed++;
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  };
  const timer = setInterval(
    () => {
      if (inFlight >= MAX_IN_FLIGHT) return fail('skipped: too many in flight');
      inFlight++;
      one(n++)
        .then(
          () => okCount++,
          (err: Error) => fail((err as NodeJS.ErrnoException).code ?? err.message.slice(0, 60)),
        )
        .finally(() => inFlight--);
    },
    Math.max(1, 1_000 / Math.max(perSecond, 0.001)),
  );
  if (perSecond <= 0) clearInterval(timer);
  return {
    counts: () => ({
      ok: okCount,
      failed,
      failures: [...reasons].map(([why, count]) => `${why} × ${count}`).join(', '),
    }),
    reasons: () => reasons,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
    get stopped() {
      return stopped;
    },
  };
}

/** apache: HTTPS to the site, half on kept-alive connections and half each on a new one; a new
 * certificate published to its volume by the certificates image at every renewal. */
const apache: Workload = {
  images: [CERTS, APACHE],
  unit: 'requests',
  async start({ suffix, extraArgs, nodeFlags, created }) {
    const volume = `podserve-soak-certs-${suffix}`;
    podman('volume', 'create', volume);
    created.volumes.push(volume);
    const certificates = (mode: 'init' | 'renew') =>
      podman(
        'run',
        '--rm',
        '-e',
        `DOMAIN=${DOMAIN}`,
        '-v',
        `${volume}:/data/state/certificates`,
        CERTS,
        'certificates',
        '--mode',
        mode,
      );
    certificates('init');
    const id = podman(
      'create',
      ...extraArgs,
      ...entrypointWith(APACHE, nodeFlags),
      '-e',
      `DOMAIN=${DOMAIN}`,
      '-v',
      `${volume}:/data/state/certificates:ro`,
      '-p',
      '127.0.0.1::443',
      APACHE,
      'apache',
    );
    created.containers.push(id);
    podman('start', id);
    await untilReady(id);
    // An empty /data/www is served PodServe's default page until the next reload.
    podman('exec', id, 'sh', '-c', 'echo soak > /data/www/index.html');
    podman('exec', id, 'node', 'dist/main.js', 'ctl', 'reload');
    const port = hostPort(id, '443/tcp');
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
    const get = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            servername: DOMAIN,
            headers: { host: DOMAIN },
            path: '/',
            rejectUnauthorized: false,
            agent: n % 2 === 0 ? keepAlive : false,
            timeout: 10_000,
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () =>
              res.statusCode === 200 && body === 'soak\n'
                ? resolve()
                : reject(new Error(`HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 40))}`)),
            );
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
        req.on('error', (err) =>
          reject(
            Object.assign(err, {
              code: `${n % 2 === 0 ? 'keep-alive' : 'new'} ${(err as NodeJS.ErrnoException).code ?? err.message}`,
            }),
          ),
        );
        req.end();
      });
    for (let tries = 0; ; tries++) {
      const served = await get(1).then(
        () => true,
        () => false,
      );
      if (served) break;
      if (tries > 100) throw new Error('apache did not serve the soak page within 10 s of a reload');
      await sleep(100);
    }
    return {
      id,
      traffic: (perSecond) => {
        const t = steady(perSecond, get);
        return {
          ...t,
          stop: () => {
            t.stop();
            keepAlive.destroy();
          },
          get stopped() {
            return t.stopped;
          },
        };
      },
      renew: async () => {
        certificates('renew');
      },
    };
  },
};

/** dns: authoritative queries (every tenth over TCP, the rest UDP); at every renewal an ACME
 * challenge TXT swapped by RFC 2136 and a record added or removed with `ctl`. */
const dns: Workload = {
  images: [DNS],
  unit: 'queries',
  async start({ suffix, work, extraArgs, nodeFlags, created }) {
    const volume = `podserve-soak-dns-${suffix}`;
    podman('volume', 'create', volume);
    created.volumes.push(volume);
    const id = podman(
      'create',
      ...extraArgs,
      ...entrypointWith(DNS, nodeFlags),
      '-e',
      `DOMAIN=${DOMAIN}`,
      // Recursion goes to a dead loopback port (nothing leaves the machine), and one client
      // asking the same names steadily is what response-rate limiting exists to cap.
      '-e',
      'DNS_FORWARDERS=127.0.0.1#9',
      '-e',
      'DNS_RATE_LIMIT=0',
      '-v',
      `${volume}:/data/state`,
      '-p',
      '127.0.0.1::53/udp',
      '-p',
      '127.0.0.1::53/tcp',
      DNS,
      'dns',
    );
    created.containers.push(id);
    podman('start', id);
    await untilReady(id);
    const udp = hostPort(id, '53/udp');
    const tcp = hostPort(id, '53/tcp');
    const key = join(work, 'acme-update.key');
    podman('cp', `${id}:/data/state/dns/tsig/acme-update.key`, key);
    const names = [
      [DOMAIN, 'SOA'],
      [`www.${DOMAIN}`, 'A'],
      [DOMAIN, 'MX'],
      [DOMAIN, 'TXT'],
      [`nothing.${DOMAIN}`, 'A'],
    ] as const;
    const query = async (n: number) => {
      const [name, type] = names[n % names.length] as (typeof names)[number];
      const tcpToo = n % 10 === 9;
      const answer = await queryDns({
        host: '127.0.0.1',
        port: tcpToo ? tcp : udp,
        name,
        type,
        transport: tcpToo ? 'tcp' : 'udp',
        dnssec: true,
      });
      if (!answer.aa) throw new Error(`${name} ${type}: not authoritative (rcode ${answer.rcode})`);
    };
    let previousToken: string | undefined;
    return {
      id,
      traffic: (perSecond) => steady(perSecond, query),
      renew: async (n) => {
        const token = `soak-${n}-${Date.now()}`;
        const lines = [`server 127.0.0.1 ${udp}`, `zone ${DOMAIN}.`];
        if (previousToken) lines.push(`update delete _acme-challenge.${DOMAIN}. 60 IN TXT "${previousToken}"`);
        lines.push(`update add _acme-challenge.${DOMAIN}. 60 IN TXT "${token}"`, 'send', '');
        execFileSync('nsupdate', ['-k', key, '-t', '5'], {
          input: lines.join('\n'),
          stdio: ['pipe', 'ignore', 'pipe'],
        });
        previousToken = token;
        if (n % 2 === 0)
          podman(
            'exec',
            id,
            'node',
            'dist/main.js',
            'ctl',
            'record-add',
            'name=soak',
            'type=A',
            `value=192.0.2.${(n % 250) + 1}`,
          );
        else podman('exec', id, 'node', 'dist/main.js', 'ctl', 'record-remove', 'name=soak', 'type=A');
      },
    };
  },
};

/** mail: messages submitted on 587 (STARTTLS, AUTH; DKIM-signed) to a user, and every fourth
 * "request" an IMAPS login that reads the mailbox's STATUS; at every renewal a new certificate
 * published (postfix and dovecot reload), a user added or deleted with `ctl` (the users file and
 * the socketmap), and the soak user's mailbox emptied over IMAP so the volume does not fill. */
const mail: Workload = {
  images: [CERTS, MAIL],
  unit: 'messages and IMAP logins',
  async start({ suffix, extraArgs, nodeFlags, created }) {
    const certs = `podserve-soak-mailcerts-${suffix}`;
    const state = `podserve-soak-mail-${suffix}`;
    for (const v of [certs, state]) {
      podman('volume', 'create', v);
      created.volumes.push(v);
    }
    const certificates = (mode: 'init' | 'renew') =>
      podman(
        'run',
        '--rm',
        '-e',
        `DOMAIN=${DOMAIN}`,
        '-e',
        `CERT_SANS=mail.${DOMAIN}`,
        '-v',
        `${certs}:/data/state/certificates`,
        CERTS,
        'certificates',
        '--mode',
        mode,
      );
    certificates('init');
    const id = podman(
      'create',
      ...extraArgs,
      ...entrypointWith(MAIL, nodeFlags),
      '-e',
      `DOMAIN=${DOMAIN}`,
      '-v',
      `${certs}:/data/state/certificates:ro`,
      '-v',
      `${state}:/data/state/mail`,
      '-p',
      '127.0.0.1::587',
      '-p',
      '127.0.0.1::993',
      MAIL,
      'mail',
    );
    created.containers.push(id);
    podman('start', id);
    await untilReady(id);
    const user = `soak@${DOMAIN}`;
    const password = 'soak password 0123';
    execFileSync(
      'podman',
      ['exec', '-i', id, 'node', 'dist/main.js', 'ctl', 'users', 'add', user, '--password-stdin'],
      {
        input: `${password}\n`,
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    const ca = podman('run', '--rm', '-v', `${certs}:/c:ro`, '--entrypoint', 'cat', CERTS, '/c/ca.pem');
    const tls = { ca, servername: `mail.${DOMAIN}` };
    const smtp = nodemailer.createTransport({
      host: '127.0.0.1',
      port: hostPort(id, '587/tcp'),
      pool: true,
      maxConnections: 2,
      maxMessages: 100,
      requireTLS: true,
      tls,
      auth: { user, pass: password },
    });
    const imaps = () =>
      new ImapFlow({
        host: '127.0.0.1',
        port: hostPort(id, '993/tcp'),
        secure: true,
        logger: false,
        tls,
        auth: { user, pass: password },
      });
    const one = async (n: number) => {
      if (n % 4 === 3) {
        const client = imaps();
        client.on('error', () => undefined);
        await client.connect();
        try {
          const status = await client.status('INBOX', { messages: true });
          if (status === false || typeof status.messages !== 'number') throw new Error('IMAP STATUS without a count');
        } finally {
          await client.logout().catch(() => undefined);
        }
        return;
      }
      const info = await smtp.sendMail({ from: user, to: user, subject: `soak ${n}`, text: `message ${n}\n` });
      if (!/^250 /.test(info.response)) throw new Error(`not accepted: ${info.response.slice(0, 60)}`);
    };
    return {
      id,
      traffic: (perSecond) => {
        const t = steady(perSecond, one);
        return {
          ...t,
          stop: () => {
            t.stop();
            smtp.close();
          },
          get stopped() {
            return t.stopped;
          },
        };
      },
      renew: async (n) => {
        certificates('renew');
        const other = `soak-${n % 2}@${DOMAIN}`;
        if (n % 4 < 2)
          execFileSync(
            'podman',
            ['exec', '-i', id, 'node', 'dist/main.js', 'ctl', 'users', 'add', other, '--password-stdin'],
            {
              input: `${password}\n`,
              stdio: ['pipe', 'ignore', 'pipe'],
            },
          );
        else podman('exec', id, 'node', 'dist/main.js', 'ctl', 'users', 'delete', other);
        const client = imaps();
        client.on('error', () => undefined);
        await client.connect();
        try {
          await client.mailboxOpen('INBOX');
          await client.messageDelete('1:*').catch(() => undefined);
        } finally {
          await client.logout().catch(() => undefined);
        }
      },
    };
  },
};

export const workloads: Record<string, Workload> = { apache, dns, mail };
