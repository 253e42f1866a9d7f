import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach } from 'vitest';

const execFileAsync = promisify(execFile);
export const repoRoot = join(import.meta.dirname, '..', '..');
/** The built artifact every image runs: `npm test` builds it first. */
const main = join(repoRoot, 'dist', 'main.js');

export interface Sandbox {
  dir: string;
  certPath: string;
  runDir: string;
  /** Base environment for the service: everything inside the sandbox. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function sandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'podserve-certs-test-'));
  const certPath = join(dir, 'certs');
  const runDir = join(dir, 'run');
  return {
    dir,
    certPath,
    runDir,
    env: {
      DOMAIN: 'example.test',
      CERT_PATH: certPath,
      PODSERVE_RUN_DIR: runDir,
      LOG_DIR: join(dir, 'logs'),
      CERTIFICATES_LOG_LEVEL: 'debug',
      ...extra,
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A sandbox() maker for a test file: every sandbox it made is removed after each test. */
export function sandboxPerTest(): (extra?: Record<string, string>) => Promise<Sandbox> {
  const made: Sandbox[] = [];
  afterEach(async () => {
    for (const b of made.splice(0)) await b.cleanup();
  });
  return async (extra = {}) => {
    const b = await sandbox(extra);
    made.push(b);
    return b;
  };
}

export type LogRecord = Record<string, unknown> & { level?: string; msg?: string };

export interface ServiceRun {
  child: ChildProcess;
  output(): string;
  records(): LogRecord[];
  exited: Promise<number | null>;
  /** Waits until a log record matches, or throws with the output so far. */
  waitForLog(match: (r: LogRecord) => boolean, timeoutMs?: number, what?: string): Promise<LogRecord>;
  /** Ends the process we started (by its pid) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node dist/main.js certificates …` with a clean environment. */
export function startService(env: Record<string, string>, args: string[] = []): ServiceRun {
  const child = spawn(process.execPath, [main, 'certificates', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const records = (): LogRecord[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogRecord];
        } catch {
          return [];
        }
      });
  return {
    child,
    output: () => out,
    records,
    exited,
    async waitForLog(match, timeoutMs = 30_000, what = 'a matching log record') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = records().find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, signal);
      }
      return exited;
    },
  };
}

/** Runs a one-shot mode to its end. */
export async function runService(
  env: Record<string, string>,
  args: string[] = ['--mode', 'init'],
): Promise<{ code: number | null; output: string; records: LogRecord[] }> {
  const run = startService(env, args);
  const code = await run.exited;
  return { code, output: run.output(), records: run.records() };
}

export async function openssl(args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await execFileAsync('openssl', args)).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin?.end(input);
  });
}

/** SHA-256 of the public key, via the openssl CLI, of a certificate or a private key file. */
export async function publicKeyDigest(path: string, kind: 'cert' | 'key'): Promise<string> {
  const pub =
    kind === 'cert'
      ? await openssl(['x509', '-in', path, '-noout', '-pubkey'])
      : await openssl(['pkey', '-in', path, '-pubout']);
  return openssl(['dgst', '-sha256'], pub);
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every path with its type, mode and content hash: "nothing changed" means this is equal. */
export function snapshot(root: string): string[] {
  if (!existsSync(root)) return ['<absent>'];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        out.push(`${path}/ ${st.mode.toString(8)}`);
        walk(path);
      } else
        out.push(`${path} ${st.mode.toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}
