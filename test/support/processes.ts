import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const distMain = join(repoRoot, 'dist', 'main.js');

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Parsed JSON log records from stdout (non-JSON lines skipped). */
  records: () => Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(predicate: (r: Run) => boolean, timeoutMs?: number, what?: string): Promise<void>;
}

/** Starts a real process and collects its output; callers end only what they started. */
export function start(argv: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Run {
  const [file, ...args] = argv;
  if (!file) throw new Error('start() needs a command');
  const child = spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const run: Run = {
    child,
    stdout: () => out,
    stderr: () => err,
    records: () => parseRecords(out),
    exited,
    async waitFor(predicate, timeoutMs = 15_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(run)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}\n--- stdout\n${out}\n--- stderr\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
  return run;
}

export function parseRecords(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export async function runToEnd(argv: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000) {
  const run = start(argv, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const result = await run.exited;
  clearTimeout(timer);
  return { ...result, stdout: run.stdout(), stderr: run.stderr(), records: run.records() };
}

/** A private temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'podserve-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Environment that keeps a service's logs and status inside `dir`. */
export function isolatedEnv(dir: string): NodeJS.ProcessEnv {
  return { LOG_DIR: join(dir, 'logs'), PODSERVE_RUN_DIR: join(dir, 'run'), LOG_LEVEL: 'debug' };
}

export const tsxNode = ['node', '--import', 'tsx'];
export const fixtureService = join(repoRoot, 'test', 'fixtures', 'fixture-service.ts');

/** Whether a pid is still running (or a zombie not yet reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
