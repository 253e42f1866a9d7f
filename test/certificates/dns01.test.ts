import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCertificatePair } from '@podserve/certificates';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Pebble, startPebble } from '../support/pebble.js';
import { runService, sandbox, waitFor } from './helpers.js';

const have = (bin: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, bin)));
const available = have('named') && have('nsupdate');

/** Every file below `dir` (logs included) whose bytes contain `text`. */
function filesContaining(dir: string, text: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => readFileSync(path).includes(text));
}

interface Bind {
  port: number;
  secret: string;
  stop(): Promise<void>;
}

/** A private BIND primary for example.test on 127.0.0.1:<port> that accepts TSIG-signed updates of _acme-challenge. */
async function startBind(): Promise<Bind> {
  const dir = await mkdtemp(join(tmpdir(), 'podserve-bind-'));
  const port = await freePort();
  const secret = randomBytes(32).toString('base64');
  await writeFile(
    join(dir, 'example.test.zone'),
    '$TTL 60\n@ IN SOA ns1.example.test. admin.example.test. 1 60 60 600 60\n@ IN NS ns1.example.test.\nns1 IN A 127.0.0.1\n@ IN A 127.0.0.1\n',
  );
  await writeFile(
    join(dir, 'named.conf'),
    `options { directory "${dir}"; pid-file "${dir}/named.pid"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; allow-query { any; }; };
key "acme-key" { algorithm hmac-sha256; secret "${secret}"; };
controls { };
zone "example.test" { type primary; file "example.test.zone";
  update-policy { grant acme-key name _acme-challenge.example.test. TXT; }; };
`,
  );
  const child: ChildProcess = spawn('named', ['-g', '-c', join(dir, 'named.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(() => (out.includes('running') ? true : undefined), 10_000, `named to start:\n${out}`);
  return {
    port,
    secret,
    async stop() {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// A missing BIND must fail the run, not skip it: scripts/test-deps.sh installs it.
it('has BIND (named) and nsupdate to test DNS-01 with', () => {
  expect(available, 'install bind9 and bind9-dnsutils: bash scripts/test-deps.sh').toBe(true);
});

describe.runIf(available)('certificates: DNS-01 through RFC 2136 (BIND + nsupdate, TSIG)', () => {
  let bind: Bind;
  let pebble: Pebble;
  beforeAll(async () => {
    bind = await startBind();
    pebble = await startPebble({ dnsServer: `127.0.0.1:${bind.port}` });
  });
  afterAll(async () => {
    await pebble?.stop();
    await bind?.stop();
  });

  it('issues a wildcard certificate, cleans up the TXT records, and never logs the TSIG secret', async () => {
    const b = await sandbox({
      CERT_ISSUER: 'acme',
      LE_EMAIL: 'admin@example.test',
      CERT_SANS: '*.example.test',
      ACME_DIRECTORY_URL: pebble.directoryUrl,
      ACME_CA_FILE: pebble.caFile,
      ACME_CHALLENGE: 'dns-01',
      ACME_DNS_SERVER: `127.0.0.1:${bind.port}`,
      ACME_TSIG_KEY_NAME: 'acme-key',
      ACME_TSIG_SECRET: bind.secret,
      LOG_COMMANDS: 'true',
    });
    try {
      const run = await runService(b.env);
      expect(run.code, run.output).toBe(0);
      expect((await readCertificatePair(b.certPath)).names).toEqual(['example.test', '*.example.test']);
      expect(run.output).not.toContain(bind.secret);
      const txt = execFileSync(
        'dig',
        ['+short', '-p', String(bind.port), '@127.0.0.1', 'TXT', '_acme-challenge.example.test'],
        {
          encoding: 'utf8',
        },
      );
      expect(txt.trim()).toBe('');
    } finally {
      await b.cleanup();
    }
  });

  it('a wrong TSIG secret is a clear error naming the DNS update', async () => {
    const secret = randomBytes(32).toString('base64');
    const b = await sandbox({
      CERT_ISSUER: 'acme',
      LE_EMAIL: 'admin@example.test',
      ACME_DIRECTORY_URL: pebble.directoryUrl,
      ACME_CA_FILE: pebble.caFile,
      ACME_CHALLENGE: 'dns-01',
      ACME_DNS_SERVER: `127.0.0.1:${bind.port}`,
      ACME_TSIG_KEY_NAME: 'acme-key',
      ACME_TSIG_SECRET: secret,
    });
    try {
      const run = await runService(b.env);
      expect(run.code).not.toBe(0);
      expect(run.output).toMatch(/DNS-01 update \(add _acme-challenge\.example\.test\. at 127\.0\.0\.1:\d+\) failed/);
      // The failure is persisted for the backoff, privately and without the secret.
      expect(statSync(join(b.certPath, 'state')).mode & 0o777).toBe(0o700);
      expect(statSync(join(b.certPath, 'state', 'renewal.json')).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(join(b.certPath, 'state', 'renewal.json'), 'utf8')).lastError).toMatch(/DNS-01/);
      expect(filesContaining(b.dir, secret)).toEqual([]);
      expect(run.output).not.toContain(secret);

      // An unreachable server, as in the issue's report: still nothing holds the secret.
      const unreachable = await runService({ ...b.env, ACME_DNS_SERVER: '127.0.0.1:1', ACME_TIMEOUT: '2s' }, [
        '--mode',
        'renew',
      ]);
      expect(unreachable.code).not.toBe(0);
      expect(filesContaining(b.dir, secret)).toEqual([]);
      expect(unreachable.output).not.toContain(secret);
    } finally {
      await b.cleanup();
    }
  });
});
