/**
 * The control API's benchmarks for `npm run bench`, in the images through podman: a mail
 * container and the api container sharing mail's run directory as the pod shares it. Side by
 * side in the same run: a service's status through the API (HTTPS, token, the control socket
 * behind) and straight from the control socket (what `ctl` in the container does), each under
 * 20 concurrent clients; a user created through the API until it can log in over IMAPS; the api
 * container's RSS after the load.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { median, ok, podman, sleep, tableRows } from './bench-support.js';

const CERTS = 'localhost/podserve-certificates:latest';
const MAIL = 'localhost/podserve-mail:latest';
const API = 'localhost/podserve-api:latest';
const CLIENTS = 20;
const PER_CLIENT = 25;

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

/** 20 clients in the container, each asking the mail socket for its status 25 times: the latencies. */
const SOCKET_CLIENTS = `const { request } = require('node:http');
const one = () => new Promise((resolve, reject) => { const t0 = performance.now();
  request({ socketPath: '/run/podserve/mail.sock', path: '/v1/status' }, (res) => { res.resume(); res.on('end', () => resolve(performance.now() - t0)); }).on('error', reject).end(); });
const client = async () => { const out = []; for (let i = 0; i < ${PER_CLIENT}; i++) out.push(await one()); return out; };
Promise.all(Array.from({ length: ${CLIENTS} }, client)).then((all) => console.log(JSON.stringify(all.flat())));`;

export async function apiRows(): Promise<string[]> {
  const { rows, row } = tableRows();
  for (const image of [CERTS, MAIL, API]) {
    if (!ok('podman', ['image', 'exists', image])) {
      row('api rows', 'skipped: run scripts/images.sh build', '', null);
      return rows;
    }
  }
  const suffix = `${process.pid}`;
  const certs = `podserve-bench-api-certs-${suffix}`;
  const run = `podserve-bench-api-run-${suffix}`;
  const containers: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'podserve-bench-api-'));
  try {
    podman('volume', 'create', certs);
    podman('volume', 'create', run);
    podman(
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-e',
      'CERT_SANS=mail.example.test',
      '-v',
      `${certs}:/data/state/certificates`,
      CERTS,
      'certificates',
      '--mode',
      'init',
    );
    const made = JSON.parse(
      execFileSync('node', ['dist/main.js', 'api-token', 'bench', 'admin', '--json'], { encoding: 'utf8' }),
    ) as {
      token: string;
      line: string;
    };
    writeFileSync(join(work, 'tokens'), `${made.line}\n`);
    const mail = podman(
      'run',
      '-d',
      '-e',
      'DOMAIN=example.test',
      '-v',
      `${certs}:/data/state/certificates:ro`,
      '-v',
      `${run}:/run/podserve`,
      '-p',
      '127.0.0.1::993',
      MAIL,
      'mail',
    );
    containers.push(mail);
    const api = podman(
      'run',
      '-d',
      ...['-e', 'DOMAIN=example.test', '-e', 'API_ADDRESS=0.0.0.0', '-e', 'API_TOKENS_FILE=/secrets/tokens'],
      ...[
        '-v',
        `${certs}:/data/state/certificates:ro`,
        '-v',
        `${run}:/run/podserve-control/mail`,
        '-v',
        `${work}:/secrets:ro`,
      ],
      ...['-p', '127.0.0.1::8443', API, 'api'],
    );
    containers.push(api);
    const ready = (id: string) => ok('podman', ['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
    const t0 = performance.now();
    while (!ready(mail) || !ready(api)) {
      if (performance.now() - t0 > 90_000) throw new Error('mail and api were not ready within 90 s');
      await sleep(250);
    }
    const ca = podman('exec', mail, 'cat', '/data/state/certificates/ca.pem');
    const apiPort = Number(podman('port', api, '8443/tcp').split(':').pop());
    const imapsPort = Number(podman('port', mail, '993/tcp').split(':').pop());
    const call = (method: string, path: string, body?: object) =>
      new Promise<{ status: number; ms: number }>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const started = performance.now();
        const req = request(
          {
            host: '127.0.0.1',
            port: apiPort,
            servername: 'example.test',
            ca,
            method,
            path,
            headers: {
              authorization: `Bearer ${made.token}`,
              ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });

    // Warm both paths, then 20 clients × 25 status calls each, the API first, then the socket.
    for (let i = 0; i < 20; i++) await call('GET', '/api/v1/services/mail/status');
    const viaApi = (
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          const out: number[] = [];
          for (let i = 0; i < PER_CLIENT; i++) {
            const r = await call('GET', '/api/v1/services/mail/status');
            if (r.status !== 200) throw new Error(`status through the API answered ${r.status}`);
            out.push(r.ms);
          }
          return out;
        }),
      )
    ).flat();
    const viaSocket = JSON.parse(podman('exec', mail, 'node', '-e', SOCKET_CLIENTS)) as number[];
    const p = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms, p95 ${percentile(xs, 95).toFixed(1)} ms`;
    row(
      `api: a service's status under ${CLIENTS} concurrent clients (${CLIENTS * PER_CLIENT} calls; new TLS connection each) vs the control socket from inside the container`,
      `API ${p(viaApi)} vs socket ${p(viaSocket)}`,
      'API p95 < 100 ms',
      percentile(viaApi, 95) < 100,
    );

    // A user created through the API until it logs in over IMAPS; median of 5.
    const ends: number[] = [];
    const posts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const address = `bench${i}@example.test`;
      const password = `bench password ${i}000`;
      const started = performance.now();
      const created = await call('POST', '/api/v1/mail/users', { address, password });
      if (created.status !== 200) throw new Error(`user creation answered ${created.status}`);
      let attempts = 0;
      for (;;) {
        attempts += 1;
        const client = new ImapFlow({
          host: '127.0.0.1',
          port: imapsPort,
          secure: true,
          auth: { user: address, pass: password },
          tls: { ca, servername: 'mail.example.test' },
          logger: false,
        });
        client.on('error', () => undefined);
        const failure = await client.connect().then(
          () => undefined,
          (err: Error) => err.message,
        );
        if (failure === undefined) {
          await client.logout();
          break;
        }
        if (performance.now() - started > 30_000)
          throw new Error(`${address} could not log in within 30 s: ${failure}`);
        if (attempts === 1) console.error(`bench api: ${address}: first login failed: ${failure}`);
        await sleep(50);
      }
      ends.push(performance.now() - started);
      posts.push(created.ms);
    }
    row(
      'api: a mail user created through the API until it logs in over IMAPS (median of 5)',
      `${median(ends).toFixed(0)} ms (the POST answered in ${median(posts).toFixed(0)} ms)`,
      // dovecot re-reads its passwd-file at most once a second: a change is answered after that.
      '< 2000 ms',
      median(ends) < 2_000,
    );

    const status = podman('exec', api, 'cat', '/proc/1/status');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
    row(
      `api container's RSS (PID 1: Node serving the API) after the ${CLIENTS * PER_CLIENT + 5} calls above`,
      `${kb('VmRSS').toFixed(1)} MB (${kb('RssAnon').toFixed(1)} anon + ${kb('RssFile').toFixed(1)} file)`,
      '< 128 MB (its limit in pod.yaml: 192 MiB)',
      kb('VmRSS') < 128,
    );
  } finally {
    for (const id of containers) {
      try {
        podman('rm', '-f', '-v', '-t', '0', id);
      } catch {
        // gone already
      }
    }
    for (const v of [certs, run]) {
      try {
        podman('volume', 'rm', '-f', v);
      } catch {
        // gone already
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
