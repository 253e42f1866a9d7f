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
import { certificateRows } from './bench-certificates.js';

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
  // Side by side, in the same run, at steady state: after V8's memory reducer has shrunk both
  // idle heaps and the supervisor's first periodic malloc_trim (30 s after ready) has run.
  const settleMs = 35_000;
  const pairs = 5;
  const bare: number[] = [];
  const supervisor: number[] = [];
  const procs = Array.from({ length: pairs }, () => ({
    bare: startQuiet(['node', '-e', 'setInterval(() => {}, 1000)']),
    sup: startQuiet(['node', main, 'exec', '--', 'sleep', '1000']),
  }));
  await sleep(settleMs);
  for (const p of procs) {
    bare.push(rssKb(p.bare.pid ?? 0));
    supervisor.push(rssKb(p.sup.pid ?? 0));
    p.bare.kill('SIGKILL');
    p.sup.kill('SIGTERM');
  }
  const b = median(bare) / 1024;
  const s = median(supervisor) / 1024;
  row('RSS, bare idle `node -e "setInterval(…)"`', `${b.toFixed(1)} MB`, 'baseline', null);
  row(
    'RSS, `node dist/main.js exec -- sleep 1000`',
    `${s.toFixed(1)} MB (${(s / b).toFixed(3)}×)`,
    '≤ 1.1 × bare',
    s / b <= 1.1,
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
  await memory();
  await crashToRestart();
  await sigtermToExit();
  await probeLatency();
  if (!process.argv.includes('--runtime-only')) rows.push(...(await certificateRows()));
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(`\nPodServe runtime benchmark: Node ${process.version}, ${cpu}\n`);
  console.log('| measure | result | target | |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
} finally {
  rmSync(work, { recursive: true, force: true });
}
