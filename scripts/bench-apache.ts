/**
 * Web service benchmarks for `npm run bench`, in the apache image through podman, side by
 * side in the same run: requests/s under PodServe vs the same rendered apache config started
 * bare (apache2 as the container's entrypoint), publish → new certificate served, cold start
 * → ready, what keep-alive clients see during renewals, and the runtime's RSS next to a bare
 * Node in the same container. Needs podman, wrk and openssl; skipped with a note otherwise.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { median, ok, podman, runtimeRssRow, sleep, tableRows } from './bench-support.js';

const CERTS = 'localhost/podserve-certificates:latest';
const APACHE = 'localhost/podserve-apache:latest';

export async function apacheRows(): Promise<string[]> {
  const { rows, row } = tableRows();
  if (!ok('podman', ['image', 'exists', APACHE]) || !ok('which', ['wrk'])) {
    row('apache rows', 'skipped: run scripts/images.sh build and install wrk', '', null);
    return rows;
  }
  const suffix = `${process.pid}`;
  const volume = `podserve-bench-certs-${suffix}`;
  const containers: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'podserve-bench-apache-'));
  const run = (...args: string[]) => {
    const id = podman('run', '-d', ...args);
    containers.push(id);
    return id;
  };
  const certificates = (mode: 'init' | 'renew') =>
    podman(
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-v',
      `${volume}:/data/state/certificates`,
      CERTS,
      'certificates',
      '--mode',
      mode,
    );
  const port = (id: string, p: number) => Number(podman('port', id, `${p}/tcp`).split(':').pop());
  const ready = (id: string) => ok('podman', ['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
  const served = (httpsPort: number) => {
    const pem = execFileSync(
      'sh',
      [
        '-c',
        `echo | openssl s_client -connect 127.0.0.1:${httpsPort} -servername example.test 2>/dev/null | openssl x509 -outform PEM`,
      ],
      { encoding: 'utf8' },
    );
    return new X509Certificate(pem).fingerprint256;
  };
  const wrk = (url: string, seconds: number, extra: string[] = [], connections = 16) =>
    wrkResult(execFileSync('wrk', wrkArgs(url, seconds, extra, connections), { encoding: 'utf8' }));
  /** wrk in a child process, so this process can force renewals and poll meanwhile. */
  const wrkAsync = (url: string, seconds: number, extra: string[], connections: number) =>
    new Promise<ReturnType<typeof wrkResult>>((resolve, reject) => {
      execFile('wrk', wrkArgs(url, seconds, extra, connections), { encoding: 'utf8' }, (err, out) =>
        err ? reject(err) : resolve(wrkResult(out)),
      );
    });
  try {
    podman('volume', 'create', volume);
    certificates('init');
    const apacheArgs = [
      '-e',
      'DOMAIN=example.test',
      '-e',
      'LOG_LEVEL=warn',
      '-v',
      `${volume}:/data/state/certificates:ro`,
      '-p',
      '127.0.0.1::443',
    ];

    // Cold start → ready (podman run included), median of 3.
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const id = run(...apacheArgs, APACHE, 'apache');
      while (!ready(id)) await sleep(50);
      starts.push(performance.now() - t0);
      if (i < 2) podman('rm', '-f', '-v', '-t', '0', id);
    }
    const sup = containers.at(-1) as string;
    const supPort = port(sup, 443);

    // Before any load: after load the heap keeps what the access log's records churned.
    await runtimeRssRow(sup, 'apache', row);
    // The same rendered configuration, started bare, with a copy of the certificate generation
    // it names: the renewals below prune that generation from the volume, and a bare graceful
    // restart would then fail to load it and end apache.
    const confDir = podman('exec', sup, 'readlink', '-f', '/run/podserve-apache/conf/current');
    podman('cp', `${sup}:${confDir}`, join(work, 'conf'));
    const httpdConf = readFileSync(join(work, 'conf', 'httpd.conf'), 'utf8');
    const certFile = /SSLCertificateFile\s+(\S+)/.exec(httpdConf)?.[1];
    if (!certFile) throw new Error(`no SSLCertificateFile in ${confDir}/httpd.conf`);
    const tlsDir = dirname(certFile);
    podman('cp', `${sup}:${tlsDir}`, join(work, 'tls'));
    const bare = run(
      '-p',
      '127.0.0.1::443',
      '-v',
      `${join(work, 'conf')}:${confDir}:ro`,
      '-v',
      `${join(work, 'tls')}:${tlsDir}:ro`,
      '--entrypoint',
      '/usr/sbin/apache2',
      APACHE,
      '-f',
      `${confDir}/httpd.conf`,
      '-D',
      'FOREGROUND',
    );
    const barePort = port(bare, 443);
    await sleep(1_500);
    wrk(`https://127.0.0.1:${supPort}/`, 3); // warm-up
    wrk(`https://127.0.0.1:${barePort}/`, 3);
    const rps = { sup: [] as number[], bare: [] as number[] };
    for (let i = 0; i < 3; i++) {
      rps.sup.push(wrk(`https://127.0.0.1:${supPort}/`, 8).rps);
      rps.bare.push(wrk(`https://127.0.0.1:${barePort}/`, 8).rps);
    }
    const ratio = median(rps.sup) / median(rps.bare);
    row(
      'apache requests/s, keep-alive (wrk -c16, median of 3 × 8 s)',
      `PodServe ${median(rps.sup).toFixed(0)}, bare ${median(rps.bare).toFixed(0)} (${ratio.toFixed(3)}×)`,
      '≥ 0.98 × bare',
      ratio >= 0.98,
    );

    // Publish → served, median of 5 renewals.
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = served(supPort);
      certificates('renew');
      const t0 = performance.now();
      while (served(supPort) === before && performance.now() - t0 < 10_000) await sleep(20);
      delays.push(performance.now() - t0);
    }
    row(
      'publish → new certificate served (median of 5)',
      `${median(delays).toFixed(0)} ms`,
      '< 1000 ms',
      median(delays) < 1_000,
    );
    row(
      'apache cold start → ready (podman run included, median of 3)',
      `${median(starts).toFixed(0)} ms`,
      '< 5000 ms',
      median(starts) < 5_000,
    );

    // What clients see while certificates renew: RELOADS reloads during load, with one
    // connection per request, then with 32 keep-alive connections; the same count of bare
    // graceful restarts (SIGUSR1 to the bare apache, no PodServe involved) side by side, so
    // the resets apache's own graceful restart costs are told from anything PodServe adds.
    const RELOADS = 10;
    const EVERY_MS = 2_000;
    const seconds = Math.ceil((RELOADS * EVERY_MS + 2_000) / 1000);
    const underLoad = async (
      port: number,
      extra: string[],
      connections: number,
      reload: () => Promise<number | undefined>,
    ) => {
      const load = wrkAsync(`https://127.0.0.1:${port}/`, seconds, extra, connections);
      await sleep(1_000);
      const delays: number[] = [];
      for (let i = 0; i < RELOADS; i++) {
        const t0 = performance.now();
        const delay = await reload();
        if (delay !== undefined) delays.push(delay);
        await sleep(Math.max(0, EVERY_MS - (performance.now() - t0)));
      }
      return { ...(await load), delays };
    };
    /** A renewal, and how long until a handshake shows the new certificate (polled every 20 ms). */
    const renewAndWait = async () => {
      const before = served(supPort);
      certificates('renew');
      const t0 = performance.now();
      while (served(supPort) === before && performance.now() - t0 < 10_000) await sleep(20);
      return performance.now() - t0;
    };
    const bareGraceful = async () => {
      podman('kill', '--signal', 'USR1', bare);
      return undefined;
    };
    const quantile = (xs: number[], q: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;

    const perRequest = await underLoad(supPort, ['-H', 'Connection: close'], 16, renewAndWait);
    row(
      `${RELOADS} renewals under load, one connection per request (wrk -c16)`,
      `${perRequest.non2xx} non-2xx, socket errors: ${perRequest.errors}`,
      '0 and none',
      perRequest.non2xx === 0 && perRequest.failed === 0,
    );
    const keepAlive = await underLoad(supPort, [], 32, renewAndWait);
    const bareKeepAlive = await underLoad(barePort, [], 32, bareGraceful);
    podman('rm', '-f', '-v', '-t', '0', bare);
    const perReload = (r: { failed: number }) => (r.failed / RELOADS).toFixed(0);
    row(
      `keep-alive requests reset per reload (wrk -c32, ${RELOADS} reloads): PodServe renewal vs bare apache graceful restart`,
      `PodServe ${perReload(keepAlive)} (${keepAlive.errors}), bare ${perReload(bareKeepAlive)} (${bareKeepAlive.errors})`,
      '≤ bare (apache closes keep-alive connections on a graceful restart)',
      keepAlive.failed <= bareKeepAlive.failed * 1.25,
    );
    const all = [...perRequest.delays, ...keepAlive.delays];
    row(
      `publish → new certificate served under load (${all.length} renewals, p50 / p95)`,
      `${quantile(all, 0.5).toFixed(0)} ms / ${quantile(all, 0.95).toFixed(0)} ms`,
      'p50 < 1000 ms',
      quantile(all, 0.5) < 1_000,
    );
  } catch (err) {
    row('apache rows', `failed: ${(err as Error).message.split('\n')[0]}`, '', false);
  } finally {
    for (const id of containers) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', id], { stdio: 'ignore' });
    spawnSync('podman', ['volume', 'rm', '-f', volume], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

const wrkArgs = (url: string, seconds: number, extra: string[], connections: number) => [
  '-t2',
  `-c${connections}`,
  `-d${seconds}s`,
  // The site's name: PodServe's apache answers 421 to a Host it does not serve (an IP).
  '-H',
  'Host: example.test',
  ...extra,
  url,
];

function wrkResult(out: string) {
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    errors,
    // connect, read, write and timeout errors added up: a reset or closed connection each.
    failed: [...errors.matchAll(/\d+/g)].reduce((n, m) => n + Number(m[0]), 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}
