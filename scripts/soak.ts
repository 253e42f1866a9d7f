/**
 * Soak: one service image (or, with no service or `pod`, the whole pod: soak-pod.ts) under steady traffic and periodic renewals for a long while, PID 1's
 * footprint sampled throughout, so a leak shows as a line that climbs. Prints a row per minute
 * (PID 1 RSS, V8 heap, fds, the daemons' RSS, /run's size, requests and renewals) and a verdict:
 * PID 1's RSS at the end within 5 % of the baseline minute, and no more fds than then.
 *
 *   npm run soak -- apache --minutes 10 --renew-every 10
 *   npm run soak -- dns --minutes 60 --heap-snapshots
 *
 * RSS is read from the host's /proc (the container's PID 1, no process added to it): the median
 * of the minute's samples, so one garbage collection does not decide a verdict. The heap comes
 * from `ctl --json status`. With --heap-snapshots, PID 1 runs with --heapsnapshot-signal and
 * writes a snapshot at the baseline minute and at the end; the constructors that grew most
 * between the two are printed. Exit 0 flat, 1 grew (or the run failed), 2 usage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { descendants, median, ok, podman, sleep } from './bench-support.js';
import { heapDiff } from './soak-heap.js';
import { type Started, type Traffic, type Workload, workloads } from './soak-workloads.js';

const USAGE = `Usage: npm run soak -- SERVICE --minutes N [options]
       npm run soak -- [pod] --minutes N [--renew-every S] [--rate R]   (the whole pod: soak-pod.ts)
SERVICE               ${Object.keys(workloads).join(' or ')}
  --minutes N         how long (whole minutes, at least 2)
  --renew-every S     a renewal every S seconds (apache: a new certificate published; dns: an
                      ACME TXT record swapped by RFC 2136 and a record added/removed with ctl);
                      default 60
  --rate R            requests (apache), queries (dns) or messages and IMAP logins (mail)
                      per second; default 20
  --baseline M        the minute the end is compared with; default 10, or half a shorter run
  --heap-snapshots    write heap snapshots 5 minutes before the baseline and at the end, and
                      compare them
  --node-flags=F      more node/V8 flags for PID 1, space-separated, in front of the image's
                      entrypoint script (--node-flags='--optimize-for-size'), to try a
                      setting against the image's own
  --env K=V           an environment variable for the service's container (repeatable), to
                      try a setting such as MALLOC_ARENA_MAX=2
  --keep              leave the container and volume for a look afterwards (printed)`;

/** A verdict allows this much growth of PID 1's RSS from the baseline minute to the end. */
const RSS_TOLERANCE = 0.05;
/** Footprint reads per minute (RSS and fds); the minute's row shows their median. */
const SAMPLES_PER_MINUTE = 6;
/** PID 1 writes heap snapshots here when asked with this signal (the runtime leaves it alone). */
const SNAPSHOT_DIR = '/tmp/podserve-heap';
const SNAPSHOT_SIGNAL = 'SIGPWR';

interface Options {
  service: string;
  minutes: number;
  renewEverySeconds: number;
  rate: number;
  baseline: number;
  heapSnapshots: boolean;
  nodeFlags: string[];
  env: string[];
  keep: boolean;
}

function options(argv: string[]): Options | string {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        minutes: { type: 'string' },
        'renew-every': { type: 'string', default: '60' },
        rate: { type: 'string', default: '20' },
        baseline: { type: 'string' },
        'heap-snapshots': { type: 'boolean', default: false },
        'node-flags': { type: 'string', default: '' },
        env: { type: 'string', multiple: true, default: [] },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  }
  try {
    parsed = parse();
  } catch (err) {
    return (err as Error).message;
  }
  const { values, positionals } = parsed;
  if (values.help) return '';
  const service = positionals[0];
  if (!service || !(service in workloads)) {
    return `SERVICE: expected ${Object.keys(workloads).join(' or ')}, found ${service ?? 'nothing'}`;
  }
  const whole = (name: string, raw: string | undefined, min: number) => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= min
      ? n
      : `--${name}: expected a whole number ≥ ${min}, found ${raw ?? 'nothing'}`;
  };
  const minutes = whole('minutes', values.minutes, 2);
  const renew = whole('renew-every', values['renew-every'], 5);
  const rate = whole('rate', values.rate, 1);
  if (typeof minutes === 'string') return minutes;
  if (typeof renew === 'string') return renew;
  if (typeof rate === 'string') return rate;
  const baseline = whole('baseline', values.baseline ?? String(Math.min(10, Math.floor(minutes / 2))), 1);
  if (typeof baseline === 'string') return baseline;
  if (baseline >= minutes) return `--baseline: expected a minute before the last (${minutes}), found ${baseline}`;
  const badEnv = values.env.find((kv) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(kv));
  if (badEnv !== undefined) return `--env: expected NAME=VALUE, found ${JSON.stringify(badEnv)}`;
  return {
    service,
    minutes,
    renewEverySeconds: renew,
    rate,
    baseline,
    heapSnapshots: values['heap-snapshots'],
    nodeFlags: values['node-flags'].split(/\s+/).filter(Boolean),
    env: values.env,
    keep: values.keep,
  };
}

interface Footprint {
  rssMb: number;
  /** Private memory (heap, V8's spaces, malloc): what a leak grows. */
  anonMb: number;
  /** Pages of mapped files (libnode, libcrypto, ICU) touched so far: shared and clean, dropped by
   * the kernel under pressure, and growing while new code paths run for the first time. */
  fileMb: number;
  fds: number;
}

/** PID 1's resident set and open fds, read from the host: nothing runs in the container for it. */
function footprint(hostPid: number): Footprint {
  const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
  return {
    rssMb: mb('VmRSS'),
    anonMb: mb('RssAnon'),
    fileMb: mb('RssFile'),
    fds: readdirSync(`/proc/${hostPid}/fd`).length,
  };
}

/** The summed RSS of PID 1's descendants (the daemons it supervises), in MB. */
const descendantsRssMb = (hostPid: number) => descendants(hostPid).rssMb;

/** V8's heap in use, its committed size (what RSS holds for it) and the memory outside it that
 * V8 knows of (external, array buffers included), from `ctl --json status`. */
function heapMb(id: string): { used: number; total: number; external: number } {
  const mb = (bytes: number) => bytes / 1024 / 1024;
  try {
    const { runtime } = JSON.parse(podman('exec', id, 'node', 'dist/main.js', 'ctl', '--json', 'status'));
    return { used: mb(runtime.heapUsed), total: mb(runtime.heapTotal), external: mb(runtime.external) };
  } catch {
    return { used: Number.NaN, total: Number.NaN, external: Number.NaN };
  }
}

const runKb = (id: string) => Number(podman('exec', id, 'du', '-sk', '/run').split(/\s/)[0]);

/** Asks PID 1 for a heap snapshot and copies it out once it is whole; its path on the host. */
async function heapSnapshot(id: string, hostPid: number, into: string, label: string): Promise<string> {
  const list = () =>
    podman('exec', id, 'sh', '-c', `ls ${SNAPSHOT_DIR}/*.heapsnapshot 2>/dev/null || true`).split('\n').filter(Boolean);
  const before = new Set(list());
  process.kill(hostPid, SNAPSHOT_SIGNAL);
  for (let waited = 0; waited < 120_000; waited += 1_000) {
    await sleep(1_000);
    const fresh = list().find((f) => !before.has(f));
    if (!fresh) continue;
    // Whole once its size stops changing and it ends the JSON.
    const tail = podman('exec', id, 'sh', '-c', `sleep 1; tail -c 2 ${fresh}`);
    if (!tail.endsWith('}')) continue;
    const local = join(into, `${label}.heapsnapshot`);
    podman('cp', `${id}:${fresh}`, local);
    podman('exec', id, 'rm', '-f', fresh);
    return local;
  }
  throw new Error('PID 1 wrote no heap snapshot within 120 s');
}

interface MinuteRow extends Footprint {
  minute: number;
  heapMb: number;
  heapTotalMb: number;
  externalMb: number;
  fds: number;
  daemonsMb: number;
  runKb: number;
}

async function soak(o: Options, w: Workload): Promise<boolean> {
  const work = mkdtempSync(join(tmpdir(), 'podserve-soak-'));
  const suffix = `${process.pid}`;
  const env = [
    ...o.env.flatMap((kv) => ['-e', kv]),
    ...(o.heapSnapshots
      ? [
          '-e',
          `NODE_OPTIONS=--heapsnapshot-signal=${SNAPSHOT_SIGNAL} --diagnostic-dir=${SNAPSHOT_DIR}`,
          '--tmpfs',
          `${SNAPSHOT_DIR}:size=512m`,
        ]
      : []),
  ];
  const created = { containers: [] as string[], volumes: [] as string[] };
  let started: Started | undefined;
  let traffic: Traffic | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    console.log(
      `soak: ${o.service} for ${o.minutes} min, ${o.rate}/s, a renewal every ${o.renewEverySeconds} s${o.nodeFlags.length ? `, node ${o.nodeFlags.join(' ')}` : ''}${o.env.length ? `, env ${o.env.join(' ')}` : ''}`,
    );
    started = await w.start({ suffix, work, extraArgs: env, nodeFlags: o.nodeFlags, created });
    const id = started.id;
    const hostPid = Number(podman('inspect', '--format', '{{.State.Pid}}', id));
    console.log(`soak: container ${id.slice(0, 12)}, PID 1 is host pid ${hostPid}`);

    const load = started.traffic(o.rate);
    traffic = load;
    let renewals = 0;
    let renewalFailures = 0;
    const renewing = (async () => {
      while (!interrupted && !load.stopped) {
        // In one-second steps, so the end of the run does not wait out a long interval.
        for (let s = 0; s < o.renewEverySeconds && !interrupted && !load.stopped; s++) await sleep(1_000);
        if (interrupted || load.stopped) break;
        try {
          await started?.renew(renewals);
          renewals++;
        } catch (err) {
          renewalFailures++;
          console.log(`soak: renewal ${renewals + 1} failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    })();

    console.log(
      `minute | PID 1 RSS MB (anon+file) | heap MB used/total | ext MB | fds | daemons MB | /run KB | ${w.unit} ok | failed | renewals`,
    );
    const rows: MinuteRow[] = [];
    const snapshots: string[] = [];
    const snapshotMinute = Math.max(1, o.baseline - 5);
    const t0 = performance.now();
    for (let minute = 1; minute <= o.minutes && !interrupted; minute++) {
      const samples: Footprint[] = [];
      for (let i = 0; i < SAMPLES_PER_MINUTE && !interrupted; i++) {
        const dueAt = t0 + (minute - 1) * 60_000 + ((i + 1) * 60_000) / SAMPLES_PER_MINUTE;
        await sleep(Math.max(0, dueAt - performance.now()));
        samples.push(footprint(hostPid));
      }
      if (interrupted) break;
      const heap = heapMb(id);
      const row: MinuteRow = {
        minute,
        rssMb: median(samples.map((s) => s.rssMb)),
        anonMb: median(samples.map((s) => s.anonMb)),
        fileMb: median(samples.map((s) => s.fileMb)),
        heapMb: heap.used,
        heapTotalMb: heap.total,
        externalMb: heap.external,
        fds: Math.min(...samples.map((s) => s.fds)),
        daemonsMb: descendantsRssMb(hostPid),
        runKb: runKb(id),
      };
      rows.push(row);
      const t = load.counts();
      console.log(
        `${String(minute).padStart(6)} | ${`${row.rssMb.toFixed(1)} (${row.anonMb.toFixed(1)}+${row.fileMb.toFixed(1)})`.padStart(25)} | ${`${row.heapMb.toFixed(1)}/${row.heapTotalMb.toFixed(1)}`.padStart(18)} | ${row.externalMb.toFixed(1).padStart(6)} | ${String(row.fds).padStart(3)} | ${row.daemonsMb.toFixed(1).padStart(10)} | ${String(row.runKb).padStart(7)} | ${String(t.ok).padStart(11)} | ${String(t.failed).padStart(6)} | ${renewals}`,
      );
      // The first snapshot some minutes before the baseline: writing one costs PID 1 memory
      // of its own, which would otherwise be counted as growth.
      if (o.heapSnapshots && (minute === snapshotMinute || minute === o.minutes)) {
        snapshots.push(await heapSnapshot(id, hostPid, work, `minute-${minute}`));
      }
    }
    load.stop();
    await renewing;
    if (interrupted) {
      console.log('soak: interrupted; no verdict');
      return false;
    }

    const base = rows.find((r) => r.minute === o.baseline) as MinuteRow;
    const last = rows.at(-1) as MinuteRow;
    const growth = (last.rssMb - base.rssMb) / base.rssMb;
    const flat = growth <= RSS_TOLERANCE && last.fds <= base.fds;
    const t = load.counts();
    const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
    if (snapshots.length === 2) {
      console.log(`heap growth, minute ${snapshotMinute} → ${o.minutes} (V8 heap snapshots), largest first:`);
      for (const line of heapDiff(snapshots[0] as string, snapshots[1] as string, 10)) console.log(`  ${line}`);
    }
    console.log(
      `verdict: ${flat ? 'FLAT' : 'GREW'} — PID 1 RSS ${last.rssMb.toFixed(1)} MB at minute ${last.minute} vs ${base.rssMb.toFixed(1)} MB at minute ${base.minute} (${pct(growth)}, limit +${RSS_TOLERANCE * 100} %), anonymous ${base.anonMb.toFixed(1)} → ${last.anonMb.toFixed(1)} MB (${pct((last.anonMb - base.anonMb) / base.anonMb)}), file pages ${base.fileMb.toFixed(1)} → ${last.fileMb.toFixed(1)} MB; fds ${base.fds} → ${last.fds}; heap used ${base.heapMb.toFixed(1)} → ${last.heapMb.toFixed(1)} MB, committed ${base.heapTotalMb.toFixed(1)} → ${last.heapTotalMb.toFixed(1)} MB; daemons ${base.daemonsMb.toFixed(1)} → ${last.daemonsMb.toFixed(1)} MB; ${t.ok} ${w.unit} answered, ${t.failed} failed${t.failures ? ` (${t.failures})` : ''}; ${renewals} renewals, ${renewalFailures} failed`,
    );
    return flat;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    traffic?.stop();
    if (o.keep && started) {
      console.log(`soak: kept container ${started.id} and ${created.volumes.join(', ')}; ${work}`);
    } else {
      for (const id of created.containers) spawnSync('podman', ['rm', '-f', '-v', '-t', '5', id], { stdio: 'ignore' });
      for (const v of created.volumes) spawnSync('podman', ['volume', 'rm', '-f', v], { stdio: 'ignore' });
      rmSync(work, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<number> {
  // No service named (or `pod`): the whole pod, see soak-pod.ts.
  const argv = process.argv.slice(2);
  const named = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  if (named !== undefined && named !== 'pod' && !(named in workloads)) {
    // A misspelt service must not start an hour of the whole pod.
    console.error(`soak: SERVICE: expected pod, ${Object.keys(workloads).join(', ')}; found ${named}\n${USAGE}`);
    return 2;
  }
  if (named === undefined && argv.some((a) => a === '--help' || a === '-h')) {
    console.error(USAGE);
    return 0;
  }
  if (named === undefined || named === 'pod') {
    const pod = await import('./soak-pod.js');
    return pod.main(argv);
  }
  const o = options(argv);
  if (typeof o === 'string') {
    if (o) console.error(`soak: ${o}`);
    console.error(USAGE);
    return o ? 2 : 0;
  }
  const w = workloads[o.service] as Workload;
  for (const image of w.images) {
    if (!ok('podman', ['image', 'exists', image])) {
      console.error(`soak: image ${image} is missing: run scripts/images.sh build first`);
      return 1;
    }
  }
  try {
    return (await soak(o, w)) ? 0 : 1;
  } catch (err) {
    console.error(`soak: failed: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main();
