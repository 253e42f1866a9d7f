/**
 * DNS service benchmarks for `npm run bench`, in the dns image through podman, side by side in
 * the same run: queries/s with dnsperf under PodServe vs the same rendered named config and
 * zone started bare (named as the container's entrypoint), cold start → ready, and RFC 2136
 * update → answer visible. Response-rate limiting is off for both (DNS_RATE_LIMIT=0): it
 * exists to cap identical answers to one client, which is exactly what dnsperf is. Recursion
 * goes to a dead loopback port: nothing leaves the machine. Needs podman and dnsperf.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryDns } from '@podserve/dns';
import { median, ok, podman, sleep, tableRows } from './bench-support.js';

const DNS = 'localhost/podserve-dns:latest';

export async function dnsRows(): Promise<string[]> {
  const { rows, row } = tableRows();
  if (!ok('podman', ['image', 'exists', DNS]) || !ok('which', ['dnsperf'])) {
    row('dns rows', 'skipped: run scripts/images.sh build and install dnsperf', '', null);
    return rows;
  }
  const containers: string[] = [];
  const volumes: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'podserve-bench-dns-'));
  const run = (...args: string[]) => {
    const id = podman('run', '-d', ...args);
    containers.push(id);
    return id;
  };
  const port = (id: string) => Number(podman('port', id, '53/udp').split(':').pop());
  const ready = (id: string) => ok('podman', ['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
  const env = ['-e', 'DOMAIN=example.test', '-e', 'DNS_FORWARDERS=127.0.0.1#9', '-e', 'DNS_RATE_LIMIT=0'];
  const queries = join(work, 'queries');
  writeFileSync(
    queries,
    ['example.test SOA', 'www.example.test A', 'mail.example.test A', 'example.test MX', 'example.test TXT', ''].join(
      '\n',
    ),
  );
  const dnsperf = (p: number, seconds: number) => {
    const out = execFileSync(
      'dnsperf',
      ['-s', '127.0.0.1', '-p', String(p), '-d', queries, '-l', String(seconds), '-c', '4', '-q', '64'],
      { encoding: 'utf8' },
    );
    return {
      qps: Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
      lost: Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0),
    };
  };
  try {
    // Cold start → ready (podman run included), median of 3; the last one stays for the rest.
    const starts: number[] = [];
    let sup = '';
    for (let i = 0; i < 3; i++) {
      const volume = `podserve-bench-dns-${process.pid}-${i}`;
      podman('volume', 'create', volume);
      volumes.push(volume);
      const t0 = performance.now();
      sup = run(...env, '-v', `${volume}:/data/state`, '-p', '127.0.0.1::53/udp', DNS, 'dns');
      while (!ready(sup)) await sleep(50);
      starts.push(performance.now() - t0);
      if (i < 2) podman('rm', '-f', '-v', '-t', '0', sup);
    }
    row(
      'dns cold start → ready, signed zone (podman run included, median of 3)',
      `${median(starts).toFixed(0)} ms`,
      '< 5000 ms',
      median(starts) < 5_000,
    );
    const supPort = port(sup);

    // The same rendered named.conf, zone and keys, started bare: named is the entrypoint.
    // (podman cp loses ownership: the copies get the owners PodServe gives them.)
    podman('cp', `${sup}:/run/podserve-dns`, join(work, 'run'));
    podman('cp', `${sup}:/data/state/dns`, join(work, 'state'));
    const bare = run(
      '-v',
      `${join(work, 'run')}:/seed-run:ro`,
      '-v',
      `${join(work, 'state')}:/seed-state:ro`,
      '-p',
      '127.0.0.1::53/udp',
      '--entrypoint',
      'sh',
      DNS,
      '-c',
      'cp -a /seed-run/. /run/podserve-dns/ && mkdir -p /data/state/dns && cp -a /seed-state/. /data/state/dns/ && chown -R bind:bind /run/podserve-dns/work /data/state/dns && chgrp bind /run/podserve-dns/*.key && exec /usr/sbin/named -f -u bind -c /run/podserve-dns/conf/current/named.conf',
    );
    const barePort = port(bare);
    for (let i = 0; i < 100; i++) {
      const answer = await queryDns({
        host: '127.0.0.1',
        port: barePort,
        name: 'example.test',
        type: 'SOA',
        transport: 'udp',
      }).catch(() => undefined);
      if (answer?.aa) break;
      await sleep(100);
    }
    // Both settle first: a named that has just loaded a signed zone is still at its key
    // maintenance for some seconds, and the bare one started last.
    await sleep(15_000);
    dnsperf(supPort, 5);
    dnsperf(barePort, 5);
    // Five rounds, the order alternating (ABBA…), so neither side always runs on a warmer machine.
    const qps = { sup: [] as number[], bare: [] as number[] };
    let lost = 0;
    for (let i = 0; i < 5; i++) {
      const order = i % 2 === 0 ? (['sup', 'bare'] as const) : (['bare', 'sup'] as const);
      for (const side of order) {
        const r = dnsperf(side === 'sup' ? supPort : barePort, 6);
        qps[side].push(r.qps);
        if (side === 'sup') lost += r.lost;
      }
    }
    if (process.env.BENCH_VERBOSE) console.error(JSON.stringify(qps));
    if (median(qps.bare) === 0) throw new Error('bare named answered nothing');
    const ratio = median(qps.sup) / median(qps.bare);
    row(
      'dns queries/s, authoritative (dnsperf -c4 -q64, median of 5 × 6 s, alternating)',
      `PodServe ${median(qps.sup).toFixed(0)}, bare named ${median(qps.bare).toFixed(0)} (${ratio.toFixed(3)}×; ${lost} lost)`,
      '≥ 0.98 × bare',
      ratio >= 0.98,
    );
    podman('rm', '-f', '-v', '-t', '0', bare);

    // RFC 2136 update → the answer is visible (signed), median of 5.
    const key = join(work, 'state', 'tsig', 'acme-update.key');
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const value = `bench-${i}-${Date.now()}`;
      const t0 = performance.now();
      execFileSync('nsupdate', ['-k', key, '-t', '5'], {
        input: `server 127.0.0.1 ${supPort}\nzone example.test.\nupdate add _acme-challenge.example.test. 60 IN TXT "${value}"\nsend\n`,
      });
      for (;;) {
        const answer = await queryDns({
          host: '127.0.0.1',
          port: supPort,
          name: '_acme-challenge.example.test',
          type: 'TXT',
          transport: 'udp',
          dnssec: true,
        }).catch(() => undefined);
        const txt = JSON.stringify(answer?.answers ?? []);
        if (txt.includes(value) && answer?.answerTypes.includes('RRSIG')) break;
        if (performance.now() - t0 > 10_000) throw new Error('an update did not become visible within 10 s');
        await sleep(5);
      }
      delays.push(performance.now() - t0);
    }
    row(
      'RFC 2136 update → signed answer visible (nsupdate included, median of 5)',
      `${median(delays).toFixed(0)} ms`,
      '< 1000 ms',
      median(delays) < 1_000,
    );
  } catch (err) {
    row('dns rows', `failed: ${(err as Error).message.split('\n')[0]}`, '', false);
  } finally {
    for (const id of containers) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', id], { stdio: 'ignore' });
    for (const v of volumes) spawnSync('podman', ['volume', 'rm', '-f', v], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
