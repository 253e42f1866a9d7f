/**
 * `npm run soak -- [pod] --minutes N`: the whole pod (a private copy of pod.yaml, see
 * bench-pod.ts) under light traffic on every port and a renewal through the API every
 * --renew-every seconds, each renewal followed until apache, mail and the api serve it. Prints
 * every runtime's (each container's PID 1) RSS and open fds at the start, each minute and at the
 * end, the failed requests by kind, and a verdict: each runtime's RSS at the end within 5 % of
 * the baseline minute, no more fds than then, no failed request and no failed renewal.
 *
 * The traffic, round robin: an HTTPS GET on 443 (a new connection each), a DNS query (UDP; every
 * tenth over TCP, both checked for the AA flag), a message submitted on 587 (STARTTLS, AUTH as
 * admin@podserve.test, the pod Secret's password) and an IMAPS login on 993 reading the INBOX's
 * STATUS. dovecot 2.4.1 aborts connections that have not logged in yet when it reloads (at each
 * renewal): an IMAPS login that fails by a dropped connection within 10 s after a renewal is
 * counted as such, apart from the failures.
 */
import { request } from 'node:https';
import { parseArgs } from 'node:util';
import { queryDns } from '@podserve/dns';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { POD_DOMAIN, PrivatePod, processFootprint } from './bench-pod.js';
import { median, ok, podman, sleep } from './bench-support.js';
import { steady } from './soak-workloads.js';

const USAGE = `Usage: npm run soak -- [pod] --minutes N [options]
  --minutes N         how long (whole minutes, at least 2)
  --renew-every S     a renewal through the API every S seconds; default 60
  --rate R            requests a second, round robin over HTTPS, DNS, SMTP and IMAPS; default 4
  --baseline M        the minute the end is compared with; default 10, or half a shorter run
  --keep              leave the pod up afterwards (its file and names are printed)`;

const RSS_TOLERANCE = 0.05;
const SAMPLES_PER_MINUTE = 6;
/** An IMAPS connection dropped this long after a renewal started is dovecot's reload's. */
const RELOAD_WINDOW_MS = 10_000;
const RELOAD_ABORT = 'imaps: dropped by dovecot reload';

interface Options {
  minutes: number;
  renewEverySeconds: number;
  rate: number;
  baseline: number;
  keep: boolean;
}

function options(argv: string[]): Options | string {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        minutes: { type: 'string' },
        'renew-every': { type: 'string', default: '60' },
        rate: { type: 'string', default: '4' },
        baseline: { type: 'string' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return (err as Error).message;
  }
  if (values.help) return '';
  if (positionals.some((p) => p !== 'pod')) return `expected pod or nothing, found ${positionals.join(' ')}`;
  const whole = (name: string, raw: unknown, min: number) => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= min
      ? n
      : `--${name}: expected a whole number ≥ ${min}, found ${raw ?? 'nothing'}`;
  };
  const minutes = whole('minutes', values.minutes, 2);
  const renew = whole('renew-every', values['renew-every'], 10);
  const rate = whole('rate', values.rate, 1);
  if (typeof minutes === 'string') return minutes;
  if (typeof renew === 'string') return renew;
  if (typeof rate === 'string') return rate;
  const baseline = whole('baseline', values.baseline ?? String(Math.min(10, Math.floor(minutes / 2))), 1);
  if (typeof baseline === 'string') return baseline;
  if (baseline >= minutes) return `--baseline: expected a minute before the last (${minutes}), found ${baseline}`;
  return { minutes, renewEverySeconds: renew, rate, baseline, keep: values.keep === true };
}

interface Sample {
  rssMb: number;
  fds: number;
}

async function soakPod(o: Options): Promise<boolean> {
  const pod = await PrivatePod.create('soak');
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let stopTraffic = () => {};
  try {
    console.log(
      `soak: the pod (${pod.name}) for ${o.minutes} min, ${o.rate} requests/s over HTTPS, DNS, SMTP and IMAPS, a renewal through the API every ${o.renewEverySeconds} s`,
    );
    const t0 = performance.now();
    await pod.play();
    const ready = await pod.untilReady(t0);
    console.log(
      `soak: every container ready after ${(Math.max(...Object.values(ready.services)) / 1000).toFixed(1)} s; ports: https ${pod.ports.https}, dns ${pod.ports.dns}, submission ${pod.ports.submission}, imaps ${pod.ports.imaps}, api ${pod.ports.api}`,
    );
    const pids = pod.hostPids();
    delete pids.infra;
    const runtimes = Object.keys(pids);

    const ca = pod.ca();
    const user = `admin@${POD_DOMAIN}`;
    // Under podman 4.3 the Secret's file holds its base64 text, which is then the password.
    const password = podman('exec', pod.container('mail'), 'cat', '/run/secrets/podserve/mail-admin-password').trim();
    const tls = { ca, servername: `mail.${POD_DOMAIN}` };
    const smtp = nodemailer.createTransport({
      host: '127.0.0.1',
      port: pod.ports.submission,
      pool: true,
      maxConnections: 1,
      maxMessages: 50,
      requireTLS: true,
      tls,
      auth: { user, pass: password },
    });
    const imaps = () =>
      new ImapFlow({
        host: '127.0.0.1',
        port: pod.ports.imaps,
        secure: true,
        logger: false,
        tls,
        auth: { user, pass: password },
      });
    let lastRenewalAt = Number.NEGATIVE_INFINITY;
    const tagged = (kind: string, err: Error) =>
      Object.assign(err, { code: `${kind}: ${(err as NodeJS.ErrnoException).code ?? err.message.slice(0, 60)}` });
    const https = () =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: pod.ports.https,
            servername: POD_DOMAIN,
            headers: { host: POD_DOMAIN },
            ca,
            path: '/',
            agent: false,
            timeout: 10_000,
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
        req.on('error', reject);
        req.end();
      });
    const dnsQuery = async (n: number) => {
      const tcp = n % 10 === 9;
      const answer = await queryDns({
        host: '127.0.0.1',
        port: pod.ports.dns,
        name: POD_DOMAIN,
        type: 'SOA',
        transport: tcp ? 'tcp' : 'udp',
        dnssec: true,
      });
      if (!answer.aa) throw new Error(`not authoritative (rcode ${answer.rcode})`);
    };
    const submit = async (n: number) => {
      const info = await smtp.sendMail({ from: user, to: user, subject: `soak ${n}`, text: `message ${n}\n` });
      if (!/^250 /.test(info.response)) throw new Error(`not accepted: ${info.response.slice(0, 60)}`);
    };
    const login = async () => {
      const client = imaps();
      client.on('error', () => undefined);
      const startedAt = performance.now();
      try {
        await client.connect();
      } catch (err) {
        const e = err as Error & { authenticationFailed?: boolean };
        const sinceRenewal = startedAt - lastRenewalAt;
        if (!e.authenticationFailed && sinceRenewal >= -1_000 && sinceRenewal < RELOAD_WINDOW_MS) {
          throw Object.assign(new Error(RELOAD_ABORT), { code: RELOAD_ABORT });
        }
        throw err;
      }
      try {
        const status = await client.status('INBOX', { messages: true });
        if (status === false || typeof status.messages !== 'number') throw new Error('STATUS without a count');
      } finally {
        await client.logout().catch(() => undefined);
      }
    };
    const kinds = ['https', 'dns', 'smtp', 'imaps'] as const;
    const one = (n: number): Promise<void> => {
      const kind = kinds[n % kinds.length] as (typeof kinds)[number];
      const k = Math.floor(n / kinds.length);
      const call = kind === 'https' ? https() : kind === 'dns' ? dnsQuery(k) : kind === 'smtp' ? submit(k) : login();
      return call.catch((err: Error) => {
        if ((err as NodeJS.ErrnoException).code === RELOAD_ABORT) throw err;
        throw tagged(kind, err);
      });
    };

    const footprint = (): Record<string, Sample> =>
      Object.fromEntries(
        runtimes.map((r) => {
          const f = processFootprint(pids[r] as number);
          return [r, { rssMb: f.rssMb, fds: f.fds }];
        }),
      );
    const cell = (r: string, s: Sample) => `${s.rssMb.toFixed(1)}/${s.fds}`.padStart(`${r} MB/fds`.length);
    console.log(
      `minute | ${runtimes.map((r) => `${r} MB/fds`).join(' | ')} | requests ok | failed | reload-dropped | renewals (all serving after, worst)`,
    );
    const startRow = footprint();
    console.log(`${'start'.padStart(6)} | ${runtimes.map((r) => cell(r, startRow[r] as Sample)).join(' | ')} |`);

    const traffic = steady(o.rate, one);
    stopTraffic = () => {
      traffic.stop();
      smtp.close();
    };
    let renewals = 0;
    let renewalFailures = 0;
    let servedIn: number[] = [];
    const allServed: number[] = [];
    const renewing = (async () => {
      while (!interrupted && !traffic.stopped) {
        for (let s = 0; s < o.renewEverySeconds && !interrupted && !traffic.stopped; s++) await sleep(1_000);
        if (interrupted || traffic.stopped) break;
        try {
          const started = performance.now();
          lastRenewalAt = started;
          const renewed = await pod.renew();
          const served = await pod.untilServed(renewed.fingerprint, started);
          const late = Object.entries(served).filter(([, t]) => Number.isNaN(t));
          if (late.length) throw new Error(`not served within 30 s by ${late.map(([w]) => w).join(', ')}`);
          renewals++;
          const all = Math.max(...Object.values(served));
          servedIn.push(all);
          allServed.push(all);
          // Empty the INBOX so the state volume does not fill over an hour.
          const client = imaps();
          client.on('error', () => undefined);
          await client
            .connect()
            .then(async () => {
              await client.mailboxOpen('INBOX');
              await client.messageDelete('1:*').catch(() => undefined);
              await client.logout();
            })
            .catch(() => undefined);
        } catch (err) {
          renewalFailures++;
          console.log(`soak: renewal ${renewals + renewalFailures} failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    })();

    const rows: Array<{ minute: number; samples: Record<string, Sample> }> = [];
    const start = performance.now();
    for (let minute = 1; minute <= o.minutes && !interrupted; minute++) {
      const samples: Array<Record<string, Sample>> = [];
      for (let i = 0; i < SAMPLES_PER_MINUTE && !interrupted; i++) {
        const dueAt = start + (minute - 1) * 60_000 + ((i + 1) * 60_000) / SAMPLES_PER_MINUTE;
        await sleep(Math.max(0, dueAt - performance.now()));
        samples.push(footprint());
      }
      if (interrupted) break;
      const row = Object.fromEntries(
        runtimes.map((r) => [
          r,
          {
            rssMb: median(samples.map((s) => (s[r] as Sample).rssMb)),
            fds: Math.min(...samples.map((s) => (s[r] as Sample).fds)),
          },
        ]),
      );
      rows.push({ minute, samples: row });
      const c = traffic.counts();
      const dropped = traffic.reasons().get(RELOAD_ABORT) ?? 0;
      console.log(
        `${String(minute).padStart(6)} | ${runtimes.map((r) => cell(r, row[r] as Sample)).join(' | ')} | ${String(c.ok).padStart(11)} | ${String(c.failed - dropped).padStart(6)} | ${String(dropped).padStart(14)} | ${renewals}${servedIn.length ? ` (${Math.round(Math.max(...servedIn))} ms)` : ''}`,
      );
      servedIn = [];
    }
    stopTraffic();
    await renewing;
    await sleep(2_000); // requests in flight answer or fail
    if (interrupted) {
      console.log('soak: interrupted; no verdict');
      return false;
    }
    const end = footprint();
    const daemons = pod.footprints();
    console.log(`${'end'.padStart(6)} | ${runtimes.map((r) => cell(r, end[r] as Sample)).join(' | ')} |`);
    console.log(
      `soak: the daemons (PID 1's descendants) at the end: ${daemons
        .filter((d) => d.container !== 'infra')
        .map((d) => `${d.container} ${d.daemons} processes ${d.daemonsMb.toFixed(1)} MB`)
        .join(', ')}`,
    );

    const base = rows.find((r) => r.minute === o.baseline) as (typeof rows)[number];
    const last = rows.at(-1) as (typeof rows)[number];
    const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
    let flat = true;
    const perRuntime = runtimes.map((r) => {
      const b = base.samples[r] as Sample;
      const l = last.samples[r] as Sample;
      const growth = (l.rssMb - b.rssMb) / b.rssMb;
      const good = growth <= RSS_TOLERANCE && l.fds <= b.fds;
      flat &&= good;
      return `${r} ${good ? 'FLAT' : 'GREW'} ${b.rssMb.toFixed(1)} → ${l.rssMb.toFixed(1)} MB (${pct(growth)}), fds ${b.fds} → ${l.fds}`;
    });
    const c = traffic.counts();
    const dropped = traffic.reasons().get(RELOAD_ABORT) ?? 0;
    const failed = c.failed - dropped;
    const reasons = [...traffic.reasons()]
      .filter(([why]) => why !== RELOAD_ABORT)
      .map(([why, n]) => `${why} × ${n}`)
      .join(', ');
    const pass = flat && failed === 0 && renewalFailures === 0;
    console.log(
      `verdict: ${pass ? 'PASS' : 'FAIL'} — minute ${base.minute} → ${last.minute}: ${perRuntime.join('; ')}; ${c.ok} requests answered, ${failed} failed${reasons ? ` (${reasons})` : ''}, ${dropped} IMAPS logins dropped by dovecot's reload (counted apart); ${renewals} renewals, ${renewalFailures} failed, all consumers serving each after ${allServed.length ? `${Math.round(median(allServed))} ms median, ${Math.round(Math.max(...allServed))} ms worst` : '—'}`,
    );
    return pass;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    stopTraffic();
    if (o.keep) console.log(`soak: kept pod ${pod.name} (${pod.file}; volumes ${pod.volumes.join(', ')})`);
    else pod.down();
  }
}

export async function main(argv: string[]): Promise<number> {
  const o = options(argv);
  if (typeof o === 'string') {
    if (o) console.error(`soak: ${o}`);
    console.error(USAGE);
    return o ? 2 : 0;
  }
  for (const image of ['certificates', 'apache', 'dns', 'mail', 'api']) {
    if (!ok('podman', ['image', 'exists', `localhost/podserve-${image}:latest`])) {
      console.error(`soak: image localhost/podserve-${image}:latest is missing: run scripts/images.sh build first`);
      return 1;
    }
  }
  try {
    return (await soakPod(o)) ? 0 : 1;
  } catch (err) {
    console.error(`soak: failed: ${(err as Error).message}`);
    return 1;
  }
}
