/**
 * `npm run bench`: the runtime's speed and memory, measured on this machine and
 * printed as a Markdown table (the README keeps the latest one). Not a test: it
 * reports numbers, with the target beside each.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, Supervisor } from '@podserve/runtime';
import pino from 'pino';
import { apacheRows } from './bench-apache.js';
import { apiRows } from './bench-api.js';
import { certificateRows } from './bench-certificates.js';
import { dnsRows } from './bench-dns.js';
import { mailRows } from './bench-mail.js';
import { podRows } from './bench-pod.js';

const root = join(import.meta.dirname, '..');
const main = join(root, 'dist', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'podserve-bench-'));
const env = { ...process.env, LOG_LEVEL: 'warn', LOG_DIR: join(work, 'logs'), PODSERVE_RUN_DIR: join(work, 'run') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const rows: string[] = [];
const row = (what: string, measured: string, target: string, ok: boolean | null) =>
  rows.push(`| ${what} | ${measured} | ${target} | ${ok === null ? '' : ok ? '✅' : '❌'} |`);

function startQuiet(argv: string[]): ChildProcess {
  const [file, ...args] = argv;
  return spawn(file as string, args, { env, stdio: 'ignore' });
}

async function memory(): Promise<void> {
  // Side by side, in the same run: 5 pairs started together. The headline is read at 35 s,
  // after the supervisor's first periodic malloc_trim; the worst sample up to 125 s shows the
  // drift, since idle garbage makes V8's young generation grow until the next collection.
  const pairs = 5;
  const firstMs = 35_000;
  const everyMs = 15_000;
  const samples = 7;
  const procs = Array.from({ length: pairs }, () => ({
    bare: startQuiet(['node', '-e', 'setInterval(() => {}, 1000)']),
    sup: startQuiet(['node', main, 'exec', '--', 'sleep', '1000']),
  }));
  const readings: Array<{ bare: number; sup: number }> = [];
  await sleep(firstMs);
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs);
    readings.push({
      bare: median(procs.map((p) => rssKb(p.bare.pid ?? 0))) / 1024,
      sup: median(procs.map((p) => rssKb(p.sup.pid ?? 0))) / 1024,
    });
  }
  for (const p of procs) {
    p.bare.kill('SIGKILL');
    p.sup.kill('SIGTERM');
  }
  const first = readings[0] as { bare: number; sup: number };
  const ratios = readings.map((r) => r.sup / r.bare);
  const worst = Math.max(...ratios);
  row('RSS, bare idle `node -e "setInterval(…)"`', `${first.bare.toFixed(1)} MB`, 'baseline', null);
  row(
    'RSS, `node dist/main.js exec -- sleep 1000`',
    `${first.sup.toFixed(1)} MB (${(first.sup / first.bare).toFixed(3)}×)`,
    '≤ 1.1 × bare',
    first.sup / first.bare <= 1.1,
  );
  row(
    `RSS ratio, worst of ${samples} samples from ${firstMs / 1000} s to ${(firstMs + (samples - 1) * everyMs) / 1000} s`,
    `${worst.toFixed(3)}×`,
    '≤ 1.1',
    worst <= 1.1,
  );
}

async function crashToRestart(): Promise<void> {
  const logger = pino({ level: 'silent' });
  const supervisor = new Supervisor(logger, new CommandRunner(logger, false));
  const proc = supervisor.add({
    name: 'victim',
    command: 'sleep',
    args: ['1000'],
    restart: 'always',
    backoff: { initialMs: 0, jitter: 0 },
    crashLoopLimit: 1_000,
  });
  await supervisor.startAll();
  const delays: number[] = [];
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    const pid = proc.pid ?? 0;
    const killed = performance.now();
    const respawned = new Promise<void>((resolve) => {
      const check = () => {
        if (proc.state === 'running' && proc.pid !== pid) {
          proc.off('state', check);
          resolve();
        }
      };
      proc.on('state', check);
    });
    process.kill(pid, 'SIGKILL');
    await respawned;
    delays.push(performance.now() - killed);
  }
  await supervisor.stopAll();
  row(
    'crash → restarted (backoff 0; default first backoff adds 500 ms ± 20 %)',
    `${median(delays).toFixed(1)} ms median, ${quantile(delays, 0.95).toFixed(1)} ms p95`,
    '< 50 ms',
    median(delays) < 50,
  );
}

async function waitForStatus(service: string, timeoutMs = 10_000): Promise<void> {
  const path = join(env.PODSERVE_RUN_DIR, `${service}.json`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path) && readFileSync(path, 'utf8').includes('"phase":"ready"')) return;
    await sleep(10);
  }
  throw new Error(`${service} never became ready`);
}

async function sigtermToExit(): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const child = startQuiet([
      'node',
      main,
      'exec',
      '--',
      'sh',
      '-c',
      'trap "exit 0" TERM; while :; do sleep 0.05; done',
    ]);
    await waitForStatus('exec');
    await sleep(100);
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const sent = performance.now();
    child.kill('SIGTERM');
    await exited;
    times.push(performance.now() - sent);
  }
  row(
    'SIGTERM → exit, one cooperative child',
    `${median(times).toFixed(0)} ms median`,
    '< 1000 ms',
    median(times) < 1000,
  );
}

async function probeLatency(): Promise<void> {
  const child = startQuiet(['node', main, 'exec', '--', 'sleep', '1000']);
  await waitForStatus('exec');
  const times: number[] = [];
  let failures = 0;
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    const result = spawnSync('node', [main, 'health', 'readiness'], { env });
    times.push(performance.now() - started);
    if (result.status !== 0) failures++;
  }
  child.kill('SIGTERM');
  const bare: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    spawnSync('node', ['-e', '0']);
    bare.push(performance.now() - started);
  }
  row(
    '`health readiness` probe, including Node start',
    `${median(times).toFixed(0)} ms median, ${quantile(times, 0.95).toFixed(0)} ms p95${failures ? `, ${failures} failed` : ''}`,
    '< 100 ms median',
    median(times) < 100 && failures === 0,
  );
  row('(reference: `node -e 0`)', `${median(bare).toFixed(0)} ms median`, '', null);
}

try {
  if (!existsSync(main)) throw new Error('dist/main.js is missing: run npm run build');
  // `--only apache,mail`: just those sections (while working on one); `--runtime-only`: no images.
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt < 0 ? undefined : (process.argv[onlyAt + 1] ?? '').split(',');
  const wanted = (section: string) => only === undefined || only.includes(section);
  if (wanted('runtime')) {
    await memory();
    await crashToRestart();
    await sigtermToExit();
    await probeLatency();
  }
  if (!process.argv.includes('--runtime-only')) {
    const sections = {
      certificates: certificateRows,
      apache: apacheRows,
      dns: dnsRows,
      mail: mailRows,
      api: apiRows,
      pod: podRows,
    };
    for (const [section, rowsOf] of Object.entries(sections)) if (wanted(section)) rows.push(...(await rowsOf()));
  }
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(`\nPodServe runtime benchmark: Node ${process.version}, ${cpu}\n`);
  console.log('| measure | result | target | |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
} finally {
  rmSync(work, { recursive: true, force: true });
}
