/**
 * The whole pod's benchmarks for `npm run bench -- --only pod`: pod.yaml played with `podman
 * play kube`, each time from a private copy (unique pod, volume and secret names, free host
 * ports, as the e2e test makes it), so a pod already on this machine is never touched.
 *
 * - play → every container ready, median of 3 plays: from the play command until each
 *   container's status says ready (its run directory read from the host, what
 *   health-check.sh reads inside; each confirmed once by the probe itself through podman exec),
 *   per container, and until the pod's API answers `GET /api/v1/status` with every service ready.
 * - a renewal through the API (`POST /api/v1/certificates/renew`, admin token) until apache
 *   (443), mail (465 and 993) and the api (8443) each serve the new certificate, by TLS
 *   handshakes from the host to the published ports; median of 5.
 * - every container's footprint from the host's /proc: PID 1 (the runtime) and its descendants
 *   (the daemons), and the pod's total.
 *
 * PrivatePod is used by the pod soak (soak-pod.ts) too.
 */
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { descendants, median, ok, podman, sleep, tableRows } from './bench-support.js';

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..');
export const POD_DOMAIN = 'podserve.test';
const PLAYS = 3;
const RENEWALS = 5;

/** A TCP port nothing listens on now (the kernel's pick), on every address as podman binds it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** pod.yaml's host ports, by their default, and what each becomes in a private copy. */
const DEFAULT_PORTS = {
  http: 8080,
  https: 8443,
  dns: 1053,
  smtp: 2525,
  submission: 2587,
  submissions: 2465,
  imap: 2143,
  imaps: 2993,
  api: 9443,
} as const;
export type PodPorts = Record<keyof typeof DEFAULT_PORTS, number>;

export interface ServiceFootprint {
  container: string;
  hostPid: number;
  rssMb: number;
  anonMb: number;
  fileMb: number;
  fds: number;
  /** PID 1's descendants: the daemons it supervises (and anything they started). */
  daemons: number;
  daemonsMb: number;
}

/** One process's RSS (and its anonymous and file parts) and open fds, from the host's /proc. */
export function processFootprint(hostPid: number): { rssMb: number; anonMb: number; fileMb: number; fds: number } {
  const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return {
    rssMb: mb('VmRSS'),
    anonMb: mb('RssAnon'),
    fileMb: mb('RssFile'),
    fds: readdirSync(`/proc/${hostPid}/fd`).length,
  };
}

/** The SHA-256 fingerprint a TLS port serves for the pod's name ("AB:CD:…"), or undefined. */
export function servedFingerprint(
  port: number,
  timeoutMs = 2_000,
  mail?: { greeting: RegExp; goodbye: string },
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: POD_DOMAIN, rejectUnauthorized: false });
    let fingerprint: string | undefined;
    let said = '';
    const done = (fp: string | undefined) => {
      clearTimeout(timer);
      if (mail && fp) socket.end(mail.goodbye);
      else socket.destroy();
      resolve(fp);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => {
      fingerprint = socket.getPeerCertificate().fingerprint256 || undefined;
      // A mail port as a mail client uses it: the greeting, then QUIT or LOGOUT. A client that
      // drops the connection right after the handshake keeps postfix's old smtpd processes
      // about a second after a reload, and the new ones wait for them (measured).
      if (!mail) done(fingerprint);
    });
    socket.on('data', (d) => {
      said += d.toString();
      if (mail?.greeting.test(said)) done(fingerprint);
    });
    socket.once('error', () => done(undefined));
  });
}

/** How each mail port greets, and how a client says goodbye. */
export const MAIL_GREETINGS = {
  smtp: { greeting: /^220 .*\r\n/m, goodbye: 'QUIT\r\n' },
  imap: { greeting: /^\* OK .*\r\n/m, goodbye: 'a LOGOUT\r\n' },
};

export interface ApiAnswer {
  status: number;
  /** JSON from the API, checked where it is used. */
  json: any;
  ms: number;
}

/**
 * A private copy of pod.yaml, played and taken down by this object; everything it creates has
 * a name with its own suffix and is removed by name or id at down().
 */
export class PrivatePod {
  readonly suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly name: string;
  readonly dir = mkdtempSync(join(tmpdir(), 'podserve-pod-'));
  readonly file = join(this.dir, 'pod.yaml');
  readonly secret: string;
  readonly volumes: string[];
  readonly services: string[];
  /** Anonymous volumes (the emptyDir run directories) seen on the containers, removed at down(). */
  private readonly anonymous = new Set<string>();
  private played = false;
  private caPem: string | undefined;

  private constructor(
    prefix: string,
    readonly ports: PodPorts,
  ) {
    this.name = `podserve-${prefix}-${this.suffix}`;
    this.secret = `podserve-secrets-${this.suffix}`;
    const source = readFileSync(join(root, 'pod.yaml'), 'utf8');
    // podman 4.3 makes each emptyDir a named volume called after it ("run-api"), shared by every
    // pod played from a copy of pod.yaml on this host: a second pod's services find the first's
    // control sockets there and refuse to become ready. The private copy renames them too.
    const runDirs = [
      ...new Set([...source.matchAll(/^ {4}- name: (run-[a-z]+)\n {6}emptyDir:/gm)].map((m) => m[1] as string)),
    ];
    this.volumes = [
      ...new Set([...source.matchAll(/claimName: (podserve-[a-z]+)/g)].map((m) => `${m[1]}-${this.suffix}`)),
      ...runDirs.map((v) => `${v}-${this.suffix}`),
    ];
    this.services = [...source.matchAll(/^ {4}- name: (\S+)\n {6}image:/gm)].map((m) => m[1] as string);
    let yaml = source
      .replace(/^ {2}name: podserve$/m, `  name: ${this.name}`)
      .replaceAll('podserve-secrets', this.secret)
      .replace(/claimName: (podserve-[a-z]+)/g, `claimName: $1-${this.suffix}`)
      .replace(new RegExp(`name: (${runDirs.join('|')})$`, 'gm'), `name: $1-${this.suffix}`)
      // No recursion: a resolver would prime from the root servers, off this machine.
      .replace('value: "127.0.0.0/8, ::1"', 'value: none');
    for (const [key, port] of Object.entries(DEFAULT_PORTS)) {
      yaml = yaml.replaceAll(`hostPort: ${port}\n`, `hostPort: ${ports[key as keyof PodPorts]}\n`);
    }
    writeFileSync(this.file, yaml);
  }

  static async create(prefix: string): Promise<PrivatePod> {
    const ports = {} as PodPorts;
    const taken = new Set<number>();
    for (const key of Object.keys(DEFAULT_PORTS)) {
      let port = await freePort();
      while (taken.has(port)) port = await freePort();
      taken.add(port);
      ports[key as keyof PodPorts] = port;
    }
    return new PrivatePod(prefix, ports);
  }

  container(service: string): string {
    return `${this.name}-${service}`;
  }

  /** `podman play kube` on the private file; resolves when the command returns. */
  async play(): Promise<void> {
    this.played = true;
    await execFileAsync('podman', ['play', 'kube', this.file], { timeout: 180_000 });
  }

  /** The host directory of a named or anonymous volume mounted at `destination` in a container. */
  mountSource(service: string, destination: string): string | undefined {
    try {
      const mounts = JSON.parse(podman('inspect', '--format', '{{json .Mounts}}', this.container(service))) as Array<{
        Type: string;
        Name?: string;
        Source: string;
        Destination: string;
      }>;
      for (const m of mounts)
        if (m.Type === 'volume' && /^[0-9a-f]{64}$/.test(m.Name ?? '')) this.anonymous.add(m.Name ?? '');
      return mounts.find((m) => m.Destination === destination)?.Source;
    } catch {
      return undefined; // not created yet
    }
  }

  /** The pod's CA (the certificates volume's ca.pem), read from the host. */
  ca(): string {
    if (this.caPem) return this.caPem;
    const mountpoint = podman(
      'volume',
      'inspect',
      '--format',
      '{{.Mountpoint}}',
      `podserve-certificates-${this.suffix}`,
    );
    this.caPem = readFileSync(join(mountpoint, 'ca.pem'), 'utf8');
    return this.caPem;
  }

  /** The fingerprint of the certificate published now (cert.pem on the certificates volume). */
  publishedFingerprint(): string {
    const mountpoint = podman(
      'volume',
      'inspect',
      '--format',
      '{{.Mountpoint}}',
      `podserve-certificates-${this.suffix}`,
    );
    return new X509Certificate(readFileSync(join(mountpoint, 'cert.pem'))).fingerprint256;
  }

  /** A call to the pod's API over HTTPS with a development token (dev/api-admin.token by default). */
  api(method: string, path: string, body?: object, token = 'admin'): Promise<ApiAnswer> {
    const bearer = readFileSync(join(root, 'dev', `api-${token}.token`), 'utf8').trim();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.ports.api,
          servername: POD_DOMAIN,
          ca: this.ca(),
          method,
          path,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${bearer}`,
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = { text };
            }
            resolve({ status: res.statusCode ?? 0, json, ms: performance.now() - started });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Waits until every container says ready, polling each one's status file from the host (its
   * run directory, what health-check.sh reads inside), then confirms each with the probe itself.
   * Returns each service's milliseconds since `t0`, and when the API first said the pod ready.
   */
  async untilReady(t0: number, timeoutMs = 120_000): Promise<{ services: Record<string, number>; apiMs: number }> {
    const at: Record<string, number> = {};
    const sources: Record<string, string> = {};
    const inspected: Record<string, number> = {};
    let apiMs = Number.NaN;
    let apiAsking = false;
    while (Object.keys(at).length < this.services.length || Number.isNaN(apiMs)) {
      if (performance.now() - t0 > timeoutMs) {
        const missing = this.services.filter((s) => at[s] === undefined);
        throw new Error(`not ready within ${timeoutMs / 1000} s: ${missing.join(', ') || 'the API status'}`);
      }
      for (const service of this.services) {
        if (at[service] !== undefined) continue;
        // podman inspect until the container exists: at most every 500 ms each (it costs CPU).
        if (!sources[service] && performance.now() - (inspected[service] ?? 0) > 500) {
          inspected[service] = performance.now();
          sources[service] = this.mountSource(service, '/run/podserve') ?? '';
        }
        if (!sources[service]) continue;
        const path = join(sources[service], `${service}.json`);
        try {
          // What the probe checks: readiness.ok, and a heartbeat no older than 10 s.
          const fresh = Date.now() - statSync(path).mtimeMs < 10_000;
          if (fresh && JSON.parse(readFileSync(path, 'utf8')).readiness?.ok === true)
            at[service] = performance.now() - t0;
        } catch {
          // not written yet, or being replaced
        }
      }
      if (at.api !== undefined && Number.isNaN(apiMs) && !apiAsking) {
        apiAsking = true;
        this.api('GET', '/api/v1/status', undefined, 'read')
          .then((a) => {
            if (a.status === 200 && a.json.ready === true && Number.isNaN(apiMs)) apiMs = performance.now() - t0;
          })
          .catch(() => undefined)
          .finally(() => {
            apiAsking = false;
          });
      }
      await sleep(50);
    }
    for (const service of this.services) {
      const probe = spawnSync(
        'podman',
        ['exec', this.container(service), '/usr/local/bin/health-check.sh', 'readiness', service],
        { encoding: 'utf8' },
      );
      if (probe.status !== 0)
        throw new Error(`${service}: the status file said ready, the probe: ${probe.stdout.trim()}`);
    }
    return { services: at, apiMs };
  }

  /** Forces a renewal through the API; resolves with the new fingerprint once published. */
  async renew(): Promise<{ fingerprint: string; answerMs: number }> {
    const before = this.publishedFingerprint();
    const answer = await this.api('POST', '/api/v1/certificates/renew', {});
    if (answer.status !== 200)
      throw new Error(`renew answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 200)}`);
    for (let i = 0; i < 100; i++) {
      const now = this.publishedFingerprint();
      if (now !== before) return { fingerprint: now, answerMs: answer.ms };
      await sleep(50);
    }
    throw new Error('renew answered 200, but cert.pem did not change within 5 s');
  }

  /** The TLS ports that serve the pod's certificate, by who serves them. */
  tlsPorts(): Record<string, number> {
    return {
      'apache 443': this.ports.https,
      'mail 465': this.ports.submissions,
      'mail 993': this.ports.imaps,
      'api 8443': this.ports.api,
    };
  }

  /** Polls every TLS port until each serves `fingerprint`; ms since t0 for each. */
  async untilServed(fingerprint: string, t0: number, timeoutMs = 30_000): Promise<Record<string, number>> {
    const entries = await Promise.all(
      Object.entries(this.tlsPorts()).map(async ([who, port]) => {
        for (;;) {
          const mail = who === 'mail 465' ? MAIL_GREETINGS.smtp : who === 'mail 993' ? MAIL_GREETINGS.imap : undefined;
          if ((await servedFingerprint(port, 2_000, mail)) === fingerprint)
            return [who, performance.now() - t0] as const;
          if (performance.now() - t0 > timeoutMs) return [who, Number.NaN] as const;
          await sleep(20);
        }
      }),
    );
    return Object.fromEntries(entries);
  }

  /** Each container's host PID 1 (and the infra container's). */
  hostPids(): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const service of this.services)
      pids[service] = Number(podman('inspect', '--format', '{{.State.Pid}}', this.container(service)));
    const infra = podman('pod', 'inspect', '--format', '{{.InfraContainerID}}', this.name);
    if (infra) pids.infra = Number(podman('inspect', '--format', '{{.State.Pid}}', infra));
    return pids;
  }

  /** Every container's footprint: PID 1 and its descendants, from the host's /proc. */
  footprints(pids = this.hostPids()): ServiceFootprint[] {
    return Object.entries(pids).map(([container, hostPid]) => {
      const own = processFootprint(hostPid);
      const d = descendants(hostPid);
      return { container, hostPid, ...own, daemons: d.count, daemonsMb: d.rssMb };
    });
  }

  /** Takes the pod down and removes everything it made: containers, volumes, the secret, the file. */
  down(): void {
    const quiet = (...args: string[]) => spawnSync('podman', args, { stdio: 'ignore', timeout: 120_000 });
    if (this.played) {
      for (const service of this.services) this.mountSource(service, '/run/podserve'); // note the anonymous volumes
      const ids = spawnSync(
        'podman',
        ['pod', 'inspect', '--format', '{{range .Containers}}{{.Id}} {{end}}', this.name],
        {
          encoding: 'utf8',
        },
      )
        .stdout.split(/\s+/)
        .filter(Boolean);
      quiet('play', 'kube', '--down', this.file);
      for (const id of ids) quiet('rm', '-f', '-v', '-t', '0', id);
      quiet('pod', 'rm', '-f', this.name);
      // podman 4.3 leaves the secret play kube made, and a volume named after it. Only volumes
      // that carry this pod's suffix, or anonymous ones (a 64-hex name) its containers had.
      quiet('secret', 'rm', this.secret);
      for (const v of [...this.volumes, this.secret, ...this.anonymous]) {
        if (v.endsWith(`-${this.suffix}`) || /^[0-9a-f]{64}$/.test(v)) quiet('volume', 'rm', '-f', v);
      }
    }
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}

const ms = (x: number) => (Number.isNaN(x) ? 'never' : `${Math.round(x)} ms`);
const s1 = (x: number) => (Number.isNaN(x) ? 'never' : `${(x / 1000).toFixed(1)} s`);

export async function podRows(): Promise<string[]> {
  const { rows, row } = tableRows();
  for (const image of ['certificates', 'apache', 'dns', 'mail', 'api']) {
    if (!ok('podman', ['image', 'exists', `localhost/podserve-${image}:latest`])) {
      row('pod rows', 'skipped: run scripts/images.sh build', '', null);
      return rows;
    }
  }
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const plays: Array<{ playMs: number; ready: Record<string, number>; all: number; apiMs: number }> = [];
  let kept: PrivatePod | undefined;
  try {
    for (let i = 0; i < PLAYS; i++) {
      const pod = await PrivatePod.create('bench');
      kept = pod;
      console.error(`bench pod: play ${i + 1}/${PLAYS}: ${pod.name} (load ${load()})`);
      const t0 = performance.now();
      let playMs = Number.NaN;
      const played = pod.play().then(() => {
        playMs = performance.now() - t0;
      });
      const ready = await Promise.all([pod.untilReady(t0), played]).then(([r]) => r);
      const all = Math.max(...Object.values(ready.services));
      plays.push({ playMs, ready: ready.services, all, apiMs: ready.apiMs });
      console.error(
        `bench pod: play ${i + 1}: command ${ms(playMs)}, all ready ${ms(all)} (${Object.entries(ready.services)
          .map(([s, t]) => `${s} ${ms(t)}`)
          .join(', ')}), API status ready ${ms(ready.apiMs)}`,
      );
      if (i < PLAYS - 1) {
        pod.down();
        kept = undefined;
      }
    }
    const byAll = [...plays].sort((a, b) => a.all - b.all);
    const mid = byAll[Math.floor(byAll.length / 2)] as (typeof plays)[number];
    const services = Object.keys(mid.ready);
    row(
      `pod: \`podman play kube\` (private copy of pod.yaml) → every container ready (median of ${PLAYS}; host ports through podman's forwarding)`,
      `${s1(median(plays.map((p) => p.all)))} (runs: ${plays.map((p) => s1(p.all)).join(', ')}); the play command returned after ${s1(median(plays.map((p) => p.playMs)))}; the API's \`GET /api/v1/status\` said ready after ${s1(median(plays.map((p) => p.apiMs)))}`,
      '< 15 s',
      median(plays.map((p) => p.all)) < 15_000,
    );
    row(
      'pod: each container ready, from the play command (median of 3 per container)',
      services.map((s) => `${s} ${s1(median(plays.map((p) => p.ready[s] as number)))}`).join(', '),
      '',
      null,
    );

    // Renewals on the last pod: from the POST until all four TLS ports serve the new certificate.
    const pod = kept as PrivatePod;
    const totals: number[] = [];
    const answers: number[] = [];
    const per: Record<string, number[]> = {};
    for (let i = 0; i < RENEWALS; i++) {
      await sleep(2_000); // let the previous one settle (reloads, status refresh)
      const t0 = performance.now();
      const renewed = await pod.renew();
      const served = await pod.untilServed(renewed.fingerprint, t0);
      const total = Math.max(...Object.values(served));
      totals.push(Object.values(served).some(Number.isNaN) ? Number.NaN : total);
      answers.push(renewed.answerMs);
      for (const [who, t] of Object.entries(served)) per[who] = [...(per[who] ?? []), t];
      console.error(
        `bench pod: renewal ${i + 1}: POST answered in ${ms(renewed.answerMs)}, all serving after ${ms(total)} (${Object.entries(
          served,
        )
          .map(([w, t]) => `${w} ${ms(t)}`)
          .join(', ')})`,
      );
    }
    const failed = totals.filter(Number.isNaN).length;
    const good = totals.filter((t) => !Number.isNaN(t));
    row(
      `pod: renewal through the API (\`POST /api/v1/certificates/renew\`) → apache 443, mail 465 and 993, api 8443 all serve the new certificate (TLS handshakes from the host; median of ${RENEWALS})`,
      `${ms(median(good))} (the POST answered in ${ms(median(answers))}; ${Object.entries(per)
        .map(([w, t]) => `${w} ${ms(median(t))}`)
        .join(', ')})${failed ? `; ${failed} not served within 30 s` : ''}`,
      '< 2000 ms',
      failed === 0 && median(good) < 2_000,
    );

    // Footprint, a few seconds after the last renewal: PID 1 (the runtime) and its descendants.
    await sleep(5_000);
    const prints = pod.footprints();
    const total = prints.reduce((sum, p) => sum + p.rssMb + p.daemonsMb, 0);
    const runtimes = prints.filter((p) => p.container !== 'infra').reduce((sum, p) => sum + p.rssMb, 0);
    row(
      `pod: total RSS (every container's processes from the host's /proc, shared pages counted in each), 5 s after the ${RENEWALS} renewals above; the runtimes' (PID 1s') share`,
      // kB / 1024: MiB, the unit of pod.yaml's limits.
      `${total.toFixed(1)} MiB; runtimes ${runtimes.toFixed(1)} MiB (${((runtimes / total) * 100).toFixed(0)} %)`,
      '< 1472 MiB (the sum of pod.yaml limits)',
      total < 1472,
    );
    for (const p of prints) {
      row(
        `pod: ${p.container} container`,
        p.container === 'infra'
          ? `pause ${p.rssMb.toFixed(1)} MB`
          : `PID 1 ${p.rssMb.toFixed(1)} MB (${p.anonMb.toFixed(1)} anon + ${p.fileMb.toFixed(1)} file), ${p.fds} fds; daemons: ${p.daemons} processes, ${p.daemonsMb.toFixed(1)} MB`,
        '',
        null,
      );
    }
    console.error(`bench pod: load average at the end ${load()}`);
  } finally {
    kept?.down();
  }
  return rows;
}
