/**
 * The whole pod together, as a user runs it with a real CA: pod.yaml played by podman with the
 * certificates service ordering from pebble (Let's Encrypt's test server, the host's binary run
 * inside the pod's network namespace, so its validation authority resolves names through the
 * pod's BIND and fetches HTTP-01 challenges from the pod's apache on port 80, exactly the path
 * a public CA takes). Everything else is reached from the host on published ports: the served
 * certificates, DNS answers, SMTP from an outside sender, IMAPS, the HTTPS API.
 */
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Pebble, startPebble } from '../support/pebble.js';
import { type PrivatePod, podApi, privatePod, setEnv } from '../support/pod.js';
import { eventually, podman, podmanResult } from '../support/podman.js';
import { DOVECOT_RELOAD_ABORT, tlsGreeting } from '../support/tls-session.js';

const SERVICES = ['certificates', 'apache', 'dns', 'mail', 'api'] as const;
const CONSUMERS = ['apache', 'mail', 'api'] as const;

let pod: PrivatePod;
let pebble: Pebble | undefined;
let work: string;
/** pebble's root for this run: what every served certificate must chain to. */
let rootFile: string;
let api: ReturnType<typeof podApi>;
let adminPassword: string;

/** A command's exit code and output; killed (code 124) after timeoutMs. */
function run(cmd: string, args: string[], timeoutMs = 60_000) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: timedOut ? 124 : err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    let timedOut = false;
    setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs).unref();
  });
}

/** wrk in the background until stop(): SIGINT, after which wrk prints its summary and exits 0. */
function startWrk(args: string[]) {
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stdout += d));
  const closed = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return {
    async stop() {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await closed;
      clearTimeout(timer);
      return { code, stdout };
    },
  };
}

const probe = (service: string) =>
  podmanResult(['exec', pod.container(service), '/usr/local/bin/health-check.sh', 'readiness', service]);

async function everyContainerReady(timeoutMs: number): Promise<void> {
  for (const service of SERVICES) {
    let said = '';
    await eventually(
      async () => {
        const r = await probe(service);
        said = `${r.stdout}${r.stderr}`.trim();
        return r.code === 0;
      },
      timeoutMs,
      `${service} ready`,
    ).catch(async (err: Error) => {
      const logs = (await podmanResult(['logs', '--tail', '30', pod.container(service)])).stdout;
      throw new Error(`${err.message}: ${said}\n${logs}`);
    });
  }
}

/** The certificate a published TLS port serves for `servername`: its SHA-256 fingerprint. */
function served(port: number, servername = 'podserve.test'): Promise<string> {
  // On the mail ports as a mail client does it: the greeting, then QUIT or LOGOUT. (A client that
  // drops the connection right after the handshake makes postfix's old smtpd processes linger
  // about a second after a reload, holding back the new ones: measured, not what clients do.)
  const mail =
    port === pod.hostPort[465]
      ? { greeting: /^220 .*\r\n/m, goodbye: 'QUIT\r\n' }
      : port === pod.hostPort[993]
        ? { greeting: /^\* OK .*\r\n/m, goodbye: 'a LOGOUT\r\n' }
        : {};
  return tlsGreeting({ port, servername, ...mail }).catch(() => '');
}

const dig = async (name: string, type: string) =>
  (await run('dig', ['@127.0.0.1', '-p', String(pod.hostPort[53]), '+short', name, type])).stdout.trim();

const imaps = (user: string, password: string, path: string, command?: string) =>
  run('curl', [
    ...['-s', '--max-time', '10', '--cacert', rootFile],
    ...['--resolve', `mail.podserve.test:${pod.hostPort[993]}:127.0.0.1`],
    ...['--user', `${user}:${password}`, `imaps://mail.podserve.test:${pod.hostPort[993]}/${path}`],
    ...(command ? ['-X', command] : []),
  ]);

const publishedCertificate = async () =>
  new X509Certificate(readFileSync(join(await pod.mountpoint('certificates'), 'cert.pem')));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'podserve-together-'));
  const acmePort = await freePort();
  pod = await privatePod((spec) => {
    const certs = spec.spec.containers.find((c) => c.name === 'certificates');
    if (!certs) throw new Error('pod.yaml has no certificates container');
    setEnv(certs, 'CERT_ISSUER', 'acme');
    setEnv(certs, 'LE_EMAIL', 'admin@podserve.test');
    setEnv(certs, 'ACME_DIRECTORY_URL', `https://127.0.0.1:${acmePort}/dir`);
    setEnv(certs, 'ACME_CA_FILE', '/run/pebble/ca.pem');
    // The first order must not wait a minute behind a failed one.
    setEnv(certs, 'CERT_RETRY_MIN', '5s');
    certs.volumeMounts?.push({ name: 'pebble-ca', mountPath: '/run/pebble', readOnly: true });
    spec.spec.volumes.push({ name: 'pebble-ca', hostPath: { path: work, type: 'Directory' } });
  });
  // Created, not started: pebble goes into the pod's network namespace (held by the infra
  // container) before the certificates service asks it for anything.
  await podman(['play', 'kube', '--start=false', pod.file], 180_000);
  const infra = (await podman(['pod', 'inspect', pod.name, '--format', '{{.InfraContainerID}}'])).trim();
  await podman(['start', infra]);
  const pid = Number((await podman(['inspect', infra, '--format', '{{.State.Pid}}'])).trim());
  pebble = await startPebble({
    netnsPid: pid,
    listenPort: acmePort,
    httpPort: 80,
    tlsPort: 443,
    dnsServer: '127.0.0.1:53',
  });
  copyFileSync(pebble.caFile, join(work, 'ca.pem'));
  await podman(['pod', 'start', pod.name], 120_000);
  await everyContainerReady(120_000);
  // The first user's password as the mail container reads it from the Secret (podman 4.3 mounts
  // the value still base64-encoded; Kubernetes decodes it).
  adminPassword = (
    await podman(['exec', pod.container('mail'), 'cat', '/run/secrets/podserve/mail-admin-password'])
  ).trim();
  rootFile = join(work, 'pebble-root.pem');
  writeFileSync(rootFile, await pebble.rootsPem());
  // The API's certificate is pebble's now, for podserve.test.
  api = podApi(pod.hostPort[8443] as number, readFileSync(rootFile, 'utf8'));
}, 300_000);

afterAll(async () => {
  await pebble?.stop();
  await pod?.remove();
  rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('the whole pod with a real ACME CA (pebble)', () => {
  it('issues by HTTP-01 through apache on port 80 for DOMAIN and its SANs; apache, mail and the api started before it existed, waited, then serve it', async () => {
    const cert = await publishedCertificate();
    expect(cert.issuer).toMatch(/Pebble Intermediate CA/);
    expect(cert.subjectAltName).toBe('DNS:podserve.test, DNS:www.podserve.test, DNS:mail.podserve.test');
    // Each name's challenge came in through apache's port 80 (its JSON access log), from pebble.
    const access = (await podmanResult(['logs', pod.container('apache')])).stdout
      .split('\n')
      .filter((l) => l.includes('/.well-known/acme-challenge/'))
      .map((l) => JSON.parse(l) as { port: number; status: number; vhost: string });
    expect(access.filter((r) => r.status === 200 && r.port === 80).length).toBeGreaterThanOrEqual(3);
    // Every consumer serves that very certificate, and it chains to pebble's root.
    for (const port of [pod.hostPort[443], pod.hostPort[465], pod.hostPort[993], pod.hostPort[8443]]) {
      expect(await served(port as number), `the certificate on host port ${port}`).toBe(cert.fingerprint256);
    }
    const verified = await run('curl', [
      ...['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', rootFile],
      ...['--resolve', `podserve.test:${pod.hostPort[443]}:127.0.0.1`, `https://podserve.test:${pod.hostPort[443]}/`],
    ]);
    expect(verified.stdout).toBe('200');
    // Start order: each consumer ran before a certificate existed and said it was waiting.
    const logs = async (service: string) => (await podmanResult(['logs', pod.container(service)])).stdout;
    expect(await logs('apache')).toMatch(/no certificate in \/data\/state\/certificates yet: starting without one/);
    for (const service of ['mail', 'api']) {
      const said = (await logs(service)).split('\n').filter((l) => /certificate/.test(l));
      expect(said.join('\n'), service).toMatch(/waiting for a certificate for (mail\.)?podserve\.test in/);
    }
  });

  it('issues a wildcard certificate by DNS-01 through the pod’s own BIND with its TSIG key', async () => {
    const out = mkdtempSync(join(work, 'wildcard-'));
    const result = await run(
      'podman',
      [
        ...['run', '--rm', '--pod', pod.name],
        ...['-v', `${pod.volumes.state}:/data/state:ro`, '-v', `${out}:/out`, '-v', `${work}:/run/pebble:ro`],
        ...['-e', 'DOMAIN=podserve.test', '-e', 'CERT_SANS=*.podserve.test', '-e', 'CERT_PATH=/out'],
        ...[
          '-e',
          'CERT_ISSUER=acme',
          '-e',
          'LE_EMAIL=admin@podserve.test',
          '-e',
          `ACME_DIRECTORY_URL=${pebble?.directoryUrl}`,
        ],
        ...[
          '-e',
          'ACME_CA_FILE=/run/pebble/ca.pem',
          '-e',
          'ACME_CHALLENGE=dns-01',
          '-e',
          'ACME_DNS_SERVER=127.0.0.1:53',
        ],
        ...[
          '-e',
          'ACME_TSIG_KEY_NAME=acme-update',
          '-e',
          'ACME_TSIG_SECRET_FILE=/data/state/dns/tsig/acme-update.secret',
        ],
        ...['localhost/podserve-certificates:latest', 'certificates', '--mode', 'init'],
      ],
      120_000,
    );
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    const wildcard = new X509Certificate(readFileSync(join(out, 'cert.pem')));
    expect(wildcard.subjectAltName).toBe('DNS:podserve.test, DNS:*.podserve.test');
    expect(wildcard.issuer).toMatch(/Pebble Intermediate CA/);
    // The challenge records are gone from the zone again.
    expect(await dig('_acme-challenge.podserve.test', 'TXT')).toBe('');
  }, 150_000);

  it('takes mail from an outside sender on port 25 for the MX the pod’s DNS names, and signs its own with the DKIM key the pod’s zone publishes', async () => {
    expect(await dig('podserve.test', 'MX')).toBe('10 mail.podserve.test.');
    expect(await dig('mail.podserve.test', 'A')).toBe('127.0.0.1');
    const subject = `from outside ${pod.suffix}`;
    const inbound = await run('swaks', [
      ...['--server', `127.0.0.1:${pod.hostPort[25]}`, '--helo', 'mx.sender.test', '--timeout', '20'],
      ...['--from', 'someone@sender.test', '--to', 'admin@podserve.test', '--header', `Subject: ${subject}`],
    ]);
    expect(inbound.stdout, inbound.stdout.slice(-1500)).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);
    await eventually(
      async () =>
        /\* SEARCH \d/.test(
          (await imaps('admin@podserve.test', adminPassword, 'INBOX', `SEARCH SUBJECT "${subject}"`)).stdout,
        ),
      20_000,
      'the outside message in the INBOX',
    );

    // The DKIM record is in the pod's zone (published by the mail container over RFC 2136)…
    await eventually(
      async () => (await dig('mail._domainkey.podserve.test', 'TXT')).includes('v=DKIM1'),
      30_000,
      'the DKIM record in the zone',
    );
    // …and a message the pod signs verifies against it, asked of the pod's DNS.
    const signed = `signed ${pod.suffix}`;
    const submitted = await run('swaks', [
      ...['--server', `127.0.0.1:${pod.hostPort[587]}`, '--tls', '--auth', 'PLAIN', '--timeout', '20'],
      ...['--auth-user', 'admin@podserve.test', '--auth-password', adminPassword, '--auth-hide-password'],
      ...['--from', 'admin@podserve.test', '--to', 'admin@podserve.test', '--header', `Subject: ${signed}`],
    ]);
    expect(submitted.stdout).toMatch(/<~ {2}250 2\.0\.0 Ok: queued as/);
    let uid = '';
    await eventually(
      async () => {
        uid =
          /\* SEARCH (\d+)/.exec(
            (await imaps('admin@podserve.test', adminPassword, 'INBOX', `UID SEARCH SUBJECT "${signed}"`)).stdout,
          )?.[1] ?? '';
        return uid !== '';
      },
      20_000,
      'the signed message in the INBOX',
    );
    const raw = (await imaps('admin@podserve.test', adminPassword, `INBOX;UID=${uid}`)).stdout;
    const resolver = new Resolver();
    resolver.setServers([`127.0.0.1:${pod.hostPort[53]}`]);
    const verdict = await dkimVerify(Buffer.from(raw), {
      resolver: async (name: string, type: string) => {
        if (type !== 'TXT') throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
        return resolver.resolveTxt(name);
      },
    });
    expect(verdict.results.map((r: { status: { result: string } }) => r.status.result)).toEqual(['pass']);
    expect(verdict.results[0]).toMatchObject({ signingDomain: 'podserve.test', selector: 'mail' });
  }, 120_000);

  it('renews 20 times from pebble while wrk loads 443 and TLS sessions run on 465 and 993: no request or session fails, every consumer serves each generation (within 10 s here; goal 2 s: npm run bench)', async () => {
    // For as long as the renewals take, then SIGINT (wrk prints its summary on it): stopped in
    // the finally below even when an assertion fails, so it never outlives the test.
    const load = startWrk([
      ...['-t1', '-c8', '-d600s', '--timeout', '5s', '-H', 'Connection: close', '-H', 'Host: podserve.test'],
      `https://127.0.0.1:${pod.hostPort[443]}/`,
    ]);
    let running = true;
    const outcomes = { ok: 0, failed: [] as string[], reloadAborted: [] as string[] };
    const session = (port: number, greeting: RegExp, goodbye: string) =>
      tlsGreeting({ port, servername: 'mail.podserve.test', greeting, goodbye });
    const loop = async (once: () => Promise<string>, reloadAbortable: boolean) => {
      while (running) {
        try {
          await once();
          outcomes.ok++;
        } catch (err) {
          const message = (err as Error).message;
          // dovecot 2.4 ends a connection still before its greeting when it reloads (README,
          // mail): the client's next attempt is served. Counted apart; anything else fails.
          if (reloadAbortable && DOVECOT_RELOAD_ABORT.test(message)) outcomes.reloadAborted.push(message);
          else outcomes.failed.push(message);
        }
      }
    };
    const sessions = Promise.all([
      loop(() => session(pod.hostPort[465] as number, /^220 .*\r\n/m, 'QUIT\r\n'), false),
      loop(() => session(pod.hostPort[993] as number, /^\* OK .*\r\n/m, 'a LOGOUT\r\n'), true),
    ]);
    const delays: number[] = [];
    const lagging: string[] = [];
    let generation: unknown;
    const perConsumer: string[] = [];
    let wrk = { code: -1, stdout: '' };
    try {
      for (let i = 0; i < 20 && running; i++) {
        const renewed = await api('POST', '/api/v1/certificates/renew', {});
        expect(renewed.status, JSON.stringify(renewed.json)).toBe(200);
        generation = renewed.json.result?.generation;
        const published = Date.now();
        const want = (await publishedCertificate()).fingerprint256;
        const ports = {
          apache: pod.hostPort[443],
          postfix: pod.hostPort[465],
          dovecot: pod.hostPort[993],
          api: pod.hostPort[8443],
        };
        // Every consumer asked side by side, each round; when each first served it.
        const at: Record<string, number> = {};
        while (Object.keys(at).length < 4 && Date.now() - published < 10_000) {
          await Promise.all(
            Object.entries(ports).map(async ([who, port]) => {
              if (at[who] === undefined && (await served(port as number)) === want) at[who] = Date.now() - published;
            }),
          );
          if (Object.keys(at).length < 4) await new Promise((r) => setTimeout(r, 50));
        }
        const took = Date.now() - published;
        const pending = new Set(Object.keys(ports).filter((who) => at[who] === undefined));
        delays.push(took);
        perConsumer.push(JSON.stringify(at));
        if (pending.size > 0)
          lagging.push(`renewal ${i + 1}: ${[...pending].join(', ')} not serving it after ${took} ms`);
      }
      // The API's view agrees: every consumer says it serves the last generation.
      const status = (await api('GET', '/api/v1/status')).json as {
        services: Array<{ service: string; status?: { details: Record<string, unknown> } }>;
      };
      expect(generation).toBeTypeOf('string');
      for (const consumer of CONSUMERS) {
        const details = status.services.find((s) => s.service === consumer)?.status?.details;
        expect(details?.servedGeneration, `${consumer} in the API's status`).toBe(generation);
      }
    } finally {
      running = false;
      await sessions;
      wrk = await load.stop();
    }
    console.log(
      `20 renewals: publish → all four serving, ms: ${delays.join(', ')}\n${perConsumer.join('\n')}\n; sessions ok ${outcomes.ok}, ended by dovecot's reload ${outcomes.reloadAborted.length}\n${wrk.stdout}`,
    );
    expect(wrk.code, wrk.stdout).toBe(0);
    expect(Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0), wrk.stdout).toBeGreaterThan(200);
    expect(wrk.stdout, 'no request may fail').not.toMatch(/Non-2xx or 3xx responses|Socket errors/);
    expect(outcomes.failed, `${outcomes.ok} sessions ok`).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(40);
    // 0 in the runs so far; a few are dovecot 2.4's known behaviour, more would mean reloads end
    // every connection they meet.
    expect(outcomes.reloadAborted.length, outcomes.reloadAborted.join('\n')).toBeLessThanOrEqual(3);
    expect(lagging).toEqual([]);
    // The goal is 2 s, which npm run bench measures on a quiet machine (1.2 s median). Here the
    // test's own load and the other test files share 2 cores with 20 processes in the pod: seen
    // up to 6 s (postfix, with another file's mail container busy beside it). The bound is for
    // correctness (each generation is served at all, by every consumer), not for speed.
    expect(Math.max(...delays), `publish → served by every consumer, ms: ${delays.join(', ')}`).toBeLessThan(10_000);
  }, 300_000);

  it('stops cleanly inside the grace period (exit 0, nothing SIGKILLed) and keeps users, zones, dynamic records, certificates and mail across a start', async () => {
    // State worth keeping: a user, a dynamic record, mail (the earlier tests' messages).
    const user = 'erin@podserve.test';
    const password = 'erin password 0123';
    expect((await api('POST', '/api/v1/mail/users', { address: user, password })).status).toBe(200);
    expect((await api('POST', '/api/v1/dns/records', { name: 'kept', type: 'A', value: '192.0.2.55' })).status).toBe(
      200,
    );
    await eventually(
      async () => (await dig('kept.podserve.test', 'A')) === '192.0.2.55',
      10_000,
      'the record answered',
    );
    const generations = async () => readdirSync(join(await pod.mountpoint('certificates'), 'generations')).sort();
    const before = {
      generations: await generations(),
      certificate: await served(pod.hostPort[443] as number),
      dnskey: await dig('podserve.test', 'DNSKEY'),
      inbox: (await imaps('admin@podserve.test', adminPassword, 'INBOX', 'SEARCH ALL')).stdout.trim(),
    };
    expect(before.inbox).toMatch(/\* SEARCH \d+ \d+/);
    // pebble lives in the pod's network namespace, which the stop removes.
    await pebble?.stop();
    pebble = undefined;

    const started = Date.now();
    const stopped = await run('podman', ['pod', 'stop', '-t', '15', pod.name], 60_000);
    const tookMs = Date.now() - started;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(tookMs, 'the pod stop').toBeLessThan(15_000);
    for (const service of SERVICES) {
      const exit = (await podman(['inspect', pod.container(service), '--format', '{{.State.ExitCode}}'])).trim();
      expect(exit, `${service}'s exit code`).toBe('0');
      const logs = (await podmanResult(['logs', pod.container(service)])).stdout;
      expect(logs, `${service} escalated to SIGKILL`).not.toMatch(
        /sending SIGKILL|killing every process group|killing what is left/,
      );
    }

    await podman(['pod', 'start', pod.name], 120_000);
    await everyContainerReady(120_000);
    expect(await served(pod.hostPort[443] as number), 'the same certificate').toBe(before.certificate);
    expect(await generations(), 'no new generation: the valid one was kept').toEqual(before.generations);
    expect(await dig('podserve.test', 'DNSKEY')).toBe(before.dnskey);
    expect(await dig('kept.podserve.test', 'A')).toBe('192.0.2.55');
    expect((await imaps(user, password, 'INBOX', 'EXAMINE INBOX')).code, 'the user made before the stop').toBe(0);
    expect((await imaps('admin@podserve.test', adminPassword, 'INBOX', 'SEARCH ALL')).stdout.trim()).toBe(before.inbox);
  }, 240_000);
});
