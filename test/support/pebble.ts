/**
 * Test harness: a real local ACME server (Debian package `pebble` 2.4.0, `apt-get install pebble openssl`).
 *
 * Each instance gets its own temp dir, its own API TLS CA + leaf (made with the `openssl` CLI),
 * its own ephemeral ports and, unless `dnsServer` is given, its own fake DNS responder that
 * answers every A query with 127.0.0.1 (see fake-dns.ts), so pebble's VA connects to
 * 127.0.0.1:httpPort for HTTP-01 of any name (example.test, www.example.test, ...).
 * See PEBBLE-NOTES.md beside this file for client snippets and gotchas.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type FakeDns, startFakeDns } from './fake-dns.js';

const execFileAsync = promisify(execFile);

export interface PebbleOptions {
  /** Lifetime of issued certificates in seconds (pebble `certificateValidityPeriod`); pebble's default is ~5 years. */
  validityPeriodSeconds?: number;
  /** Port of the ACME API (the directory URL's). Default: a free ephemeral port. */
  listenPort?: number;
  /** Port pebble's VA connects to for HTTP-01. Default: a free ephemeral port (nobody listens on it yet). */
  httpPort?: number;
  /** Port pebble's VA connects to for TLS-ALPN-01. Default: a free ephemeral port. */
  tlsPort?: number;
  /** `host:port` of a DNS server for pebble's VA (e.g. our BIND). Default: a private fake-dns instance. */
  dnsServer?: string;
  /**
   * Extra environment for pebble, applied last (e.g. PEBBLE_AUTHZREUSE, PEBBLE_CHAIN_LENGTH,
   * PEBBLE_ALTERNATE_ROOTS). Defaults set by the harness: PEBBLE_VA_NOSLEEP=1,
   * PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0; PEBBLE_VA_ALWAYS_VALID is removed.
   */
  env?: Record<string, string>;
  /** How long to wait for the directory to answer. Default 10000 ms. */
  startTimeoutMs?: number;
  /** Path of the pebble binary. Default: `pebble` on PATH (/usr/bin/pebble). */
  pebbleBin?: string;
  /**
   * Run pebble in the network namespace of this process (a pod's infra container): its VA
   * then resolves and connects inside the pod (`dnsServer` 127.0.0.1:53 is the pod's BIND,
   * `httpPort` 80 the pod's apache), and its API answers on the pod's 127.0.0.1 only. The
   * harness reaches it through `nsenter` (curl) for its own requests.
   */
  netnsPid?: number;
}

export interface Pebble {
  /** `https://127.0.0.1:PORT/dir` */
  directoryUrl: string;
  /** PEM file of the CA that signed pebble's API TLS cert (for ACME_CA_FILE, REQUESTS_CA_BUNDLE, LEGO_CA_CERTIFICATES). */
  caFile: string;
  /** Port pebble's VA connects to for HTTP-01: serve /.well-known/acme-challenge/ on 127.0.0.1:httpPort. */
  httpPort: number;
  /** Port pebble's VA connects to for TLS-ALPN-01. */
  tlsPort: number;
  /** `https://127.0.0.1:PORT` (management API: /roots/0, /intermediates/0, /cert-status-by-serial/...) */
  managementUrl: string;
  /** The issuing root of the current pebble process (changes on restart: pebble keeps everything in memory). */
  rootsPem(): Promise<string>;
  /** The issuing intermediate of the current pebble process. */
  intermediatesPem(): Promise<string>;
  /** Kill the pebble process we started (by pid), stop our fake DNS, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Same ports and config, new process (new roots, no accounts/orders: pebble's state is in memory). */
  restart(): Promise<void>;
  /** The instance's private temp dir (cfg.json, ca.pem, api.pem, api.key, pebble.log). */
  dir: string;
  /** pid of the current pebble process (undefined once stopped). */
  readonly pid: number | undefined;
  /** The fake DNS responder (absent when `dnsServer` was given): setTxt() for DNS-01 tests. */
  dns: FakeDns | undefined;
  /** The `-dnsserver` value pebble runs with. */
  dnsServer: string;
  /** pebble's combined stdout+stderr so far (last ~64 KiB). */
  output(): string;
}

const READY_TIMEOUT_MS = 10_000;
const OUTPUT_LIMIT = 64 * 1024;

// Ports handed out by this process, so parallel instances in one worker never get the same one
// between "close the probe socket" and "pebble binds it".
const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: could not find a free port');
}

// Children still alive when the test process exits are killed (by pid) and their dirs removed.
const live = new Map<number, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [pid, dir] of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    const hint = e.code === 'ENOENT' ? ' (is openssl installed? apt-get install -y openssl)' : '';
    throw new Error(`openssl ${args.join(' ')} failed${hint}: ${e.stderr ?? e.message}`);
  }
}

/** API TLS material: ca.pem/ca.key (CA), api.pem/api.key (leaf for localhost + 127.0.0.1). */
async function makeApiCerts(dir: string): Promise<void> {
  const words = (s: string) => s.split(/\s+/).filter(Boolean);
  const p256 = words('-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes');
  await openssl(
    [
      ...words('req -x509'),
      ...p256,
      ...words('-keyout ca.key -out ca.pem -days 3650'),
      ...['-subj', '/CN=PodServe test pebble API CA'],
      ...words('-addext basicConstraints=critical,CA:TRUE'),
      ...words('-addext keyUsage=critical,keyCertSign,cRLSign'),
    ],
    dir,
  );
  await writeFile(
    path.join(dir, 'api-ext.cnf'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid:always',
      '',
    ].join('\n'),
  );
  await openssl([...words('req -new'), ...p256, ...words('-keyout api.key -out api.csr -subj /CN=localhost')], dir);
  await openssl(
    words(
      'x509 -req -in api.csr -CA ca.pem -CAkey ca.key -set_serial 0x1001 -days 825 -sha256 -extfile api-ext.cnf -out api.pem',
    ),
    dir,
  );
}

function httpsGet(url: string, ca: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A GET inside another network namespace: curl through nsenter (status, then the body). */
async function nsenterGet(
  pid: number,
  url: string,
  caFile: string,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const { stdout } = await execFileAsync(
    'nsenter',
    [
      '-t',
      String(pid),
      '-n',
      '--',
      'curl',
      '-s',
      '--max-time',
      String(timeoutMs / 1000),
      '--cacert',
      caFile,
      '-w',
      '\n%{http_code}',
      url,
    ],
    { timeout: timeoutMs + 2000 },
  );
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isPortClash(output: string): boolean {
  return /address already in use/i.test(output);
}

export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podserve-pebble-'));
  let dns: FakeDns | undefined;
  try {
    await makeApiCerts(dir);
    const ca = await readFile(path.join(dir, 'ca.pem'), 'utf8');
    if (!opts.dnsServer) dns = await startFakeDns();
    const dnsServer = opts.dnsServer ?? (dns as FakeDns).address;

    // Ports we choose ourselves may be grabbed by someone else between probe and bind: retry
    // with fresh ones. Ports the caller gave are never changed.
    for (let attempt = 1; ; attempt++) {
      const ports = {
        listen: opts.listenPort ?? (await freePort()),
        management: await freePort(),
        http: opts.httpPort ?? (await freePort()),
        tls: opts.tlsPort ?? (await freePort()),
      };
      try {
        return await launch(dir, ca, ports, dnsServer, dns, opts);
      } catch (err) {
        const clash = err instanceof PebbleStartError && isPortClash(err.output);
        if (!clash || attempt >= 3) throw err;
      }
    }
  } catch (err) {
    await dns?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class PebbleStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = 'PebbleStartError';
  }
}

interface Ports {
  listen: number;
  management: number;
  http: number;
  tls: number;
}

async function launch(
  dir: string,
  ca: string,
  ports: Ports,
  dnsServer: string,
  dns: FakeDns | undefined,
  opts: PebbleOptions,
): Promise<Pebble> {
  const cfgPath = path.join(dir, 'cfg.json');
  const config: Record<string, unknown> = {
    listenAddress: `127.0.0.1:${ports.listen}`,
    managementListenAddress: `127.0.0.1:${ports.management}`,
    certificate: path.join(dir, 'api.pem'),
    privateKey: path.join(dir, 'api.key'),
    httpPort: ports.http,
    tlsPort: ports.tls,
    ocspResponderURL: '',
    externalAccountBindingRequired: false,
  };
  if (opts.validityPeriodSeconds !== undefined) {
    config.certificateValidityPeriod = opts.validityPeriodSeconds;
  }
  await writeFile(cfgPath, `${JSON.stringify({ pebble: config }, null, 2)}\n`);

  // PEBBLE_AUTHZREUSE=0: pebble reuses a valid authz for 50 % of new orders by default, which
  // makes "did the VA fetch our challenge?" flaky. Pass env { PEBBLE_AUTHZREUSE: '50' } to test reuse.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    PEBBLE_AUTHZREUSE: '0',
  };
  delete env.PEBBLE_VA_ALWAYS_VALID;
  Object.assign(env, opts.env ?? {});

  const directoryUrl = `https://127.0.0.1:${ports.listen}/dir`;
  const managementUrl = `https://127.0.0.1:${ports.management}`;
  const bin = opts.pebbleBin ?? 'pebble';
  const timeoutMs = opts.startTimeoutMs ?? READY_TIMEOUT_MS;

  // From this namespace, or through nsenter into the one pebble runs in.
  const get = (url: string, timeoutMs: number) =>
    opts.netnsPid === undefined
      ? httpsGet(url, ca, timeoutMs)
      : nsenterGet(opts.netnsPid, url, path.join(dir, 'ca.pem'), timeoutMs);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';
  let stopped = false;

  const spawnAndWait = async (): Promise<void> => {
    out = '';
    const argv = [bin, '-config', cfgPath, '-strict=false', '-dnsserver', dnsServer];
    const [command, ...args] =
      opts.netnsPid === undefined ? argv : ['nsenter', '-t', String(opts.netnsPid), '-n', '--', ...argv];
    const proc = spawn(command as string, args, {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let exitInfo: string | undefined;
    let spawnError: Error | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        if (proc.pid !== undefined) live.delete(proc.pid);
        resolve();
      });
      proc.once('error', (err) => {
        spawnError = err;
        exitInfo ??= `spawn error ${err.message}`;
        resolve();
      });
    });
    const collect = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    if (proc.pid !== undefined) live.set(proc.pid, dir);

    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    while (true) {
      if (exitInfo !== undefined) {
        const hint =
          (spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
            ? ' (is pebble installed? apt-get install -y pebble)'
            : '';
        throw new PebbleStartError(
          `pebble exited during startup (${exitInfo})${hint}\n--- pebble output ---\n${out}`,
          out,
        );
      }
      try {
        const res = await get(directoryUrl, 1000);
        if (res.status === 200 && res.body.includes('newNonce')) return;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (Date.now() > deadline) {
        await killChild();
        throw new PebbleStartError(
          `pebble did not answer ${directoryUrl} within ${timeoutMs} ms (last error: ${lastError})\n--- pebble output ---\n${out}`,
          out,
        );
      }
      await sleep(50);
    }
  };

  const killChild = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      await exited;
      return;
    }
    const pid = proc.pid;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 3000);
    await exited;
    clearTimeout(timer);
    live.delete(pid);
  };

  await spawnAndWait();

  const pebble: Pebble = {
    directoryUrl,
    caFile: path.join(dir, 'ca.pem'),
    httpPort: ports.http,
    tlsPort: ports.tls,
    managementUrl,
    dir,
    dns,
    dnsServer,
    get pid() {
      return child?.pid;
    },
    output: () => out,
    async rootsPem() {
      const res = await get(`${managementUrl}/roots/0`, 5000);
      if (res.status !== 200) throw new Error(`GET ${managementUrl}/roots/0: HTTP ${res.status}`);
      return res.body;
    },
    async intermediatesPem() {
      const res = await get(`${managementUrl}/intermediates/0`, 5000);
      if (res.status !== 200) throw new Error(`GET ${managementUrl}/intermediates/0: HTTP ${res.status}`);
      return res.body;
    },
    async restart() {
      if (stopped) throw new Error('pebble: restart() after stop()');
      await killChild();
      await spawnAndWait();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild();
      await dns?.close();
      for (const p of [ports.listen, ports.management, ports.http, ports.tls]) handedOut.delete(p);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return pebble;
}
