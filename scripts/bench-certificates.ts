/**
 * Certificate benchmarks for `npm run bench`: self-signed cold start to readiness, and
 * ACME issuance for 2 names over HTTP-01 against one local pebble, side by side with
 * certbot and lego (Debian packages; skipped with a note when not installed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPebble } from '../test/support/pebble.js';
import { median } from './bench-support.js';

const main = join(import.meta.dirname, '..', 'dist', 'main.js');
const RUNS = 5;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Times one command to its exit. Asynchronous on purpose: the pebble harness answers
 * pebble's DNS queries from this process's event loop, which spawnSync would block.
 */
async function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  const started = performance.now();
  const child = spawn(file as string, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const took = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}:\n${output.slice(-2000)}`);
  return took;
}

async function selfSignedColdStartToReady(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'podserve-bench-cert-'));
  const run = join(dir, 'run');
  try {
    const started = performance.now();
    const child = spawn('node', [main, 'certificates'], {
      env: {
        ...process.env,
        DOMAIN: 'example.test',
        CERT_PATH: join(dir, 'certs'),
        LOG_DIR: join(dir, 'logs'),
        PODSERVE_RUN_DIR: run,
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    const status = join(run, 'certificates.json');
    while (!(existsSync(status) && readFileSync(status, 'utf8').includes('"phase":"ready"'))) {
      if (performance.now() - started > 30_000) throw new Error('certificates never became ready');
      await new Promise((r) => setTimeout(r, 5));
    }
    const took = performance.now() - started;
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    return took;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function certificateRows(): Promise<string[]> {
  const rows: string[] = [];
  const cold: number[] = [];
  for (let i = 0; i < RUNS; i++) cold.push(await selfSignedColdStartToReady());
  rows.push(
    `| self-signed \`certificates\` (cron) cold start → ready (new CA + leaf) | ${seconds(median(cold))} median | < 2 s | ${median(cold) < 2000 ? '✅' : '❌'} |`,
  );

  const pebble = await startPebble();
  try {
    const names = ['example.test', 'www.example.test'];
    const results: Array<[string, number[]]> = [];
    const podserve: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'podserve-bench-acme-'));
      podserve.push(
        await timed(['node', main, 'certificates', '--mode', 'init'], {
          DOMAIN: names[0],
          CERT_SANS: names[1],
          CERT_ISSUER: 'acme',
          LE_EMAIL: 'admin@example.test',
          ACME_DIRECTORY_URL: pebble.directoryUrl,
          ACME_CA_FILE: pebble.caFile,
          ACME_HTTP_PORT: String(pebble.httpPort),
          CERT_PATH: join(dir, 'certs'),
          LOG_DIR: join(dir, 'logs'),
          PODSERVE_RUN_DIR: join(dir, 'run'),
          LOG_LEVEL: 'warn',
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    }
    results.push(['PodServe `certificates --mode init` (acme-client), whole process', podserve]);

    if (spawnSync('certbot', ['--version']).status === 0) {
      const certbot: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const dir = mkdtempSync(join(tmpdir(), 'podserve-bench-certbot-'));
        certbot.push(
          await timed(
            [
              'certbot',
              'certonly',
              '--standalone',
              '--non-interactive',
              '--agree-tos',
              '-m',
              'admin@example.test',
              '--no-eff-email',
              '--server',
              pebble.directoryUrl,
              '--http-01-port',
              String(pebble.httpPort),
              '--http-01-address',
              '127.0.0.1',
              '--config-dir',
              join(dir, 'config'),
              '--work-dir',
              join(dir, 'work'),
              '--logs-dir',
              join(dir, 'logs'),
              ...names.flatMap((n) => ['-d', n]),
            ],
            { REQUESTS_CA_BUNDLE: pebble.caFile },
          ),
        );
        rmSync(dir, { recursive: true, force: true });
      }
      results.push(['`certbot certonly --standalone`', certbot]);
    } else rows.push('| `certbot certonly --standalone` | not installed (apt-get install certbot) | | |');

    if (spawnSync('lego', ['--version']).status === 0) {
      const lego: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const dir = mkdtempSync(join(tmpdir(), 'podserve-bench-lego-'));
        lego.push(
          await timed(
            [
              'lego',
              '--server',
              pebble.directoryUrl,
              '--accept-tos',
              '--email',
              'admin@example.test',
              ...names.flatMap((n) => ['--domains', n]),
              '--http',
              '--http.port',
              `127.0.0.1:${pebble.httpPort}`,
              '--path',
              dir,
              'run',
            ],
            { LEGO_CA_CERTIFICATES: pebble.caFile },
          ),
        );
        rmSync(dir, { recursive: true, force: true });
      }
      results.push(['`lego run --http`', lego]);
    } else rows.push('| `lego run --http` | not installed (apt-get install lego) | | |');

    for (const [what, times] of results) {
      rows.push(`| ACME, 2 names, HTTP-01, pebble: ${what} | ${seconds(median(times))} median of ${RUNS} | | |`);
    }
  } finally {
    await pebble.stop();
  }
  return rows;
}
