/**
 * The pod's control API as a user meets it, over HTTPS only: the api service (`node dist/main.js
 * api`) in front of real services' control sockets (the certificates service, and the runtime's
 * fixture service with its actions), a self-signed certificate from the certificates service,
 * tokens made by `api-token`. The pod with mail and dns is test/e2e/pod-api.test.ts's.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distMain, fixtureService, type Run, runToEnd, start, tempDir, tsxNode } from '../support/processes.js';

let dir: ReturnType<typeof tempDir>;
let port: number;
let ca: string;
let api: Run;
const running: Run[] = [];
const tokens = { admin: '', reader: '' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => any;
}

/** One HTTPS request to the API, the pod's CA trusted. */
function call(
  method: string,
  path: string,
  options: { token?: string; body?: string | object; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername: 'example.test',
        ca,
        method,
        path,
        agent: false,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The certificate the API serves now. */
function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'example.test', ca }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
}

const waitFor = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

beforeAll(async () => {
  dir = tempDir('podserve-api-');
  const control = join(dir.path, 'control');
  const certs = join(dir.path, 'certs');
  mkdirSync(control, { recursive: true });
  const common = { LOG_LEVEL: 'debug', LOG_DIR: join(dir.path, 'logs') };
  // Each service with its run directory under the control directory, as the pod mounts them.
  const certificates = start(['node', distMain, 'certificates'], {
    ...common,
    PODSERVE_RUN_DIR: join(control, 'certificates'),
    DOMAIN: 'example.test',
    CERT_PATH: certs,
  });
  const fixture = start([...tsxNode, fixtureService], {
    ...common,
    PODSERVE_RUN_DIR: join(control, 'fixture'),
    FIXTURE_DIR: join(dir.path, 'conf'),
    FIXTURE_PROCESSES: JSON.stringify([{ name: 'steady', command: 'sleep', args: ['1000'] }]),
  });
  running.push(certificates, fixture);
  await certificates.waitFor((r) => r.stdout().includes('certificates ready'), 30_000, 'certificates ready');
  await fixture.waitFor((r) => r.stdout().includes('fixture ready'), 30_000, 'fixture ready');
  ca = readFileSync(join(certs, 'ca.pem'), 'utf8');

  const lines: string[] = [];
  for (const [name, scope] of [
    ['admin', 'admin'],
    ['reader', 'read'],
  ] as const) {
    const made = await runToEnd(['node', distMain, 'api-token', name, scope, '--json'], {});
    expect(made.code, made.stderr).toBe(0);
    const { token, line } = JSON.parse(made.stdout);
    tokens[name] = token;
    lines.push(line);
  }
  writeFileSync(join(dir.path, 'api-tokens'), `# the API's tokens\n${lines.join('\n')}\n`, { mode: 0o600 });
  port = await freePort();
  api = start(['node', distMain, 'api'], {
    ...common,
    // Under the control directory too, as the pod mounts it: the pod's status lists the api.
    PODSERVE_RUN_DIR: join(control, 'api'),
    DOMAIN: 'example.test',
    CERT_PATH: certs,
    API_PORT: String(port),
    API_CONTROL_DIR: control,
    API_TOKENS_FILE: join(dir.path, 'api-tokens'),
  });
  running.push(api);
  await api.waitFor((r) => r.stdout().includes('api ready'), 30_000, 'api ready');
}, 90_000);

afterAll(async () => {
  for (const run of running) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
    await run.exited;
  }
  dir?.cleanup();
});

describe('the control API over HTTPS', () => {
  it('answers 401 without a token or with a bad one, 403 for the read token on a change, and admin may; each change audited, no token logged', async () => {
    const none = await call('GET', '/api/v1/status');
    expect(none.status).toBe(401);
    expect(none.json()).toEqual({
      error: { code: 'unauthorized', message: expect.stringMatching(/no Authorization header/) },
    });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.headers['podserve-protocol']).toBe('1');
    expect((await call('GET', '/api/v1/status', { token: `${tokens.admin}x` })).status).toBe(401);

    const asReader = await call('POST', '/api/v1/services/fixture/reload', { token: tokens.reader });
    expect(asReader.status).toBe(403);
    expect(asReader.json().error).toEqual({
      code: 'forbidden',
      message: 'the token "reader" has the read scope; this needs admin',
    });
    // The read token reads, and may call a read-only action.
    expect((await call('GET', '/api/v1/services/fixture/status', { token: tokens.reader })).status).toBe(200);
    expect((await call('POST', '/api/v1/services/fixture/actions/notes', { token: tokens.reader })).status).toBe(200);
    expect(
      (
        await call('POST', '/api/v1/services/fixture/actions/notes-add', {
          token: tokens.reader,
          body: { text: 'x', pin: '1234' },
        })
      ).status,
    ).toBe(403);

    const reload = await call('POST', '/api/v1/services/fixture/reload', { token: tokens.admin });
    expect(reload.status, reload.text).toBe(200);
    expect(reload.json()).toEqual({ ok: true });
    await waitFor(async () => api.stdout().includes('api audit: admin reload fixture: ok'), 5_000, 'the audit line');
    const audit = api.records().find((r) => (r as { audit?: unknown }).audit !== undefined) as { audit: object };
    expect(audit.audit).toEqual({
      tokenName: 'admin',
      address: '127.0.0.1',
      action: 'reload',
      target: 'fixture',
      result: 'ok',
    });
    for (const token of Object.values(tokens)) expect(api.stdout() + api.stderr()).not.toContain(token);
  });

  it('shows the whole pod: every service with readiness, processes and the certificate generation', async () => {
    const status = await call('GET', '/api/v1/status', { token: tokens.reader });
    expect(status.status).toBe(200);
    const pod = status.json();
    expect(pod.ready).toBe(true);
    expect(pod.services.map((s: { service: string }) => s.service)).toEqual(['api', 'certificates', 'fixture']);
    const fixture = pod.services.find((s: { service: string }) => s.service === 'fixture');
    expect(fixture.status.readiness.ok).toBe(true);
    expect(fixture.status.processes.map((p: { name: string }) => p.name)).toEqual(['steady']);
    const certificates = pod.services.find((s: { service: string }) => s.service === 'certificates');
    expect(certificates.status.details.generation).toMatch(/^\d{8}T/);
  });

  it('restarts a process: its restart count rises', async () => {
    const before = (await call('GET', '/api/v1/services/fixture/status', { token: tokens.reader })).json();
    const steady = before.processes.find((p: { name: string }) => p.name === 'steady');
    const restart = await call('POST', '/api/v1/services/fixture/processes/steady/restart', { token: tokens.admin });
    expect(restart.status, restart.text).toBe(200);
    expect(restart.json().process).toMatchObject({ name: 'steady', state: 'running', restarts: steady.restarts + 1 });
    expect(restart.json().process.pid).not.toBe(steady.pid);
  });

  it('refuses a bad body with 400 listing every problem, changing nothing, and never echoes the secret', async () => {
    const notes = async () =>
      (await call('POST', '/api/v1/services/fixture/actions/notes', { token: tokens.reader })).json().result;
    const before = await notes();
    const notJson = await call('POST', '/api/v1/services/fixture/actions/notes-add', {
      token: tokens.admin,
      body: '{"text":',
    });
    expect(notJson.status).toBe(400);
    expect(notJson.json().error.code).toBe('bad_request');
    const bad = await call('POST', '/api/v1/services/fixture/actions/notes-add', {
      token: tokens.admin,
      body: { text: '', pin: 'x9', extra: 1 },
    });
    expect(bad.status).toBe(400);
    const message: string = bad.json().error.message;
    expect(message).toMatch(/text/);
    expect(message).toMatch(/pin/);
    expect(message).toMatch(/extra/);
    expect(message).not.toContain('x9');
    expect(await notes()).toEqual(before);
    const unknown = await call('POST', '/api/v1/services/nothing/reload', { token: tokens.admin });
    expect(unknown.status).toBe(404);
    expect(unknown.json().error.message).toMatch(
      /no service "nothing" in this pod; it has: api, certificates, fixture/,
    );
    const ok = await call('POST', '/api/v1/services/fixture/actions/notes-add', {
      token: tokens.admin,
      body: { text: 'hello', pin: '9876' },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(await notes()).toEqual([...before, 'hello']);
    expect(api.stdout()).not.toContain('9876');
  });

  it('renews the certificates through the API, and the API itself serves the new one within 5 s', async () => {
    const before = await servedFingerprint();
    const renew = await call('POST', '/api/v1/certificates/renew', { token: tokens.admin });
    expect(renew.status, renew.text).toBe(200);
    const generation = renew.json().result.generation;
    const published = new X509Certificate(readFileSync(join(dir.path, 'certs', 'current', 'cert.pem'))).fingerprint256;
    expect(published).not.toBe(before);
    await waitFor(async () => (await servedFingerprint()) === published, 5_000, 'the API serving the new certificate');
    // The API's own follower confirmed it by a handshake: its status says it serves the generation, ready.
    await waitFor(
      async () => {
        const status = (await call('GET', '/api/v1/status', { token: tokens.reader })).json();
        const of = (name: string) => status.services.find((s: { service: string }) => s.service === name).status;
        return (
          of('certificates').details.generation === generation &&
          of('api').details.servedGeneration === generation &&
          of('api').readiness.ok
        );
      },
      10_000,
      "the api's status: the new generation served, ready",
    );
  });

  it('streams a service log as Server-Sent Events: a new record within 1 s, and a reconnect resumes without gap or repeat', async () => {
    const { request } = await import('node:https');
    const events: Array<{ id?: string; event?: string; data?: string }> = [];
    const open = (lastEventId?: string) =>
      new Promise<{ close: () => void }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            servername: 'example.test',
            ca,
            path: '/api/v1/services/fixture/logs?lines=5',
            headers: {
              authorization: `Bearer ${tokens.reader}`,
              accept: 'text/event-stream',
              ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
            },
          },
          (res) => {
            expect(res.statusCode).toBe(200);
            expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
            let rest = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              const blocks = (rest + chunk).split('\n\n');
              rest = blocks.pop() ?? '';
              for (const block of blocks) {
                const e: { id?: string; event?: string; data?: string } = {};
                for (const line of block.split('\n')) {
                  const m = /^(id|event|data): (.*)$/.exec(line);
                  if (m) e[m[1] as 'id' | 'event' | 'data'] = m[2];
                }
                if (e.event) events.push(e);
              }
            });
            resolve({ close: () => req.destroy() });
          },
        );
        req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
        req.end();
      });
    const first = await open();
    await waitFor(async () => events.length >= 5, 5_000, 'the backlog');
    const note = async (text: string) =>
      expect(
        (
          await call('POST', '/api/v1/services/fixture/actions/notes-add', {
            token: tokens.admin,
            body: { text, pin: '1234' },
          })
        ).status,
      ).toBe(200);
    const t0 = Date.now();
    await note('live');
    await waitFor(async () => events.some((e) => e.data?.includes('note added')), 1_000, 'the new record within 1 s');
    expect(Date.now() - t0).toBeLessThan(1_000);
    first.close();
    const lastSeen = events.filter((e) => e.event === 'log').at(-1)?.id as string;
    const seenIds = events.filter((e) => e.event === 'log').map((e) => e.id);
    // Records written while nobody listens, then a reconnect from the last id seen.
    await note('while away 1');
    await note('while away 2');
    events.length = 0;
    const second = await open(lastSeen);
    await waitFor(
      async () => events.filter((e) => e.data?.includes('note added')).length >= 2,
      5_000,
      'the records written while away',
    );
    second.close();
    const resumedIds = events.filter((e) => e.event === 'log').map((e) => e.id as string);
    // Nothing repeated, nothing skipped: the ids follow on from the last one seen.
    for (const id of resumedIds) expect(seenIds).not.toContain(id);
    const seq = (id: string) => Number(id.split('.')[1]);
    expect(seq(resumedIds[0] as string)).toBe(seq(lastSeen) + 1);
    for (let i = 1; i < resumedIds.length; i++) {
      expect(seq(resumedIds[i] as string)).toBe(seq(resumedIds[i - 1] as string) + 1);
    }
    expect(events.some((e) => e.event === 'gap')).toBe(false);
  });

  it('answers 200 concurrent status calls, all of them', async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => call('GET', '/api/v1/status', { token: tokens.reader })),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(200);
  });

  it('publishes a valid OpenAPI 3.1 document, and every path in it is served', async () => {
    const doc = await call('GET', '/api/openapi.json');
    expect(doc.status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(doc.json());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    const paths = Object.keys(doc.json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/status', '/api/v1/mail/users', '/api/v1/dns/records']));
    // The action's own schema for its input, from the running service.
    expect(doc.json().paths['/api/v1/certificates/renew'].post.summary).toMatch(/renew/);
    for (const [path, methods] of Object.entries(doc.json().paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(methods)) {
        const concrete = path.replace(/\{[^}]+\}/g, 'x').replace('/services/x/', '/services/fixture/');
        const answer = await call(method.toUpperCase(), concrete, { token: tokens.reader });
        // Served: never "no such endpoint" (the read token may be refused, a service may be absent).
        expect(answer.text, `${method} ${path}`).not.toMatch(/no such endpoint/);
      }
    }
  });

  it('refuses a token file holding a token in clear with exit 73 (configure failed), naming the file and line, never the value', async () => {
    const file = join(dir.path, 'bad-tokens');
    writeFileSync(file, `admin admin sha256:${'a'.repeat(64)}\nci read ${tokens.admin}\n`);
    const run = await runToEnd(['node', distMain, 'api'], {
      PODSERVE_RUN_DIR: join(dir.path, 'run-bad'),
      LOG_DIR: join(dir.path, 'logs-bad'),
      DOMAIN: 'example.test',
      CERT_PATH: join(dir.path, 'certs'),
      API_PORT: String(await freePort()),
      API_CONTROL_DIR: join(dir.path, 'control'),
      API_TOKENS_FILE: file,
    });
    expect(run.code).toBe(73);
    expect(run.stdout + run.stderr).toMatch(
      new RegExp(`API_TOKENS_FILE \\(${file}\\) line 2: the third field must be sha256:`),
    );
    expect(run.stdout + run.stderr).not.toContain(tokens.admin);
  });

  it('ctl speaks the API with --url, --token-file and --cacert, or the PODSERVE_API_* variables, with exit codes scripts can rely on', async () => {
    const files = { admin: join(dir.path, 'admin.token'), reader: join(dir.path, 'reader.token') };
    writeFileSync(files.admin, `${tokens.admin}\n`, { mode: 0o600 });
    writeFileSync(files.reader, `${tokens.reader}\n`, { mode: 0o600 });
    writeFileSync(join(dir.path, 'ca.pem'), ca);
    const url = `https://127.0.0.1:${port}`;
    const asUser = {
      PODSERVE_API_URL: url,
      PODSERVE_API_TOKEN_FILE: files.admin,
      PODSERVE_CA_FILE: join(dir.path, 'ca.pem'),
      PODSERVE_API_SERVERNAME: 'example.test',
    };
    const ctl = (args: string[], env: NodeJS.ProcessEnv = asUser) =>
      runToEnd(['node', distMain, 'ctl', ...args], { PODSERVE_RUN_DIR: join(dir.path, 'nowhere'), ...env });

    const status = await ctl(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^pod: ready\n {2}api: ready: .*\n {2}certificates: ready: .*\n {2}fixture: ready: /);
    const restart = await ctl(['--service', 'fixture', 'restart', 'steady']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stdout).toMatch(/^steady: running \(pid \d+\), \d+ restart\(s\)/);
    // An action found by its name: the one service that offers it.
    const notes = await ctl(['--json', 'notes']);
    expect(notes.code, notes.stderr).toBe(0);
    expect(JSON.parse(notes.stdout)).toContain('hello');
    const logs = await ctl(['--service', 'fixture', 'logs', '-n', '3']);
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split('\n')).toHaveLength(3);

    const reader = await ctl(['--service', 'fixture', 'reload'], { ...asUser, PODSERVE_API_TOKEN_FILE: files.reader });
    expect(reader.code).toBe(77);
    expect(reader.stderr).toMatch(/the token "reader" has the read scope; this needs admin/);
    const untrusted = await ctl(['status'], { ...asUser, PODSERVE_CA_FILE: '' });
    expect(untrusted.code).toBe(69);
    expect(untrusted.stderr).toMatch(/presented a certificate this ctl does not trust .*--cacert FILE/);
    const otherName = await ctl(['status'], { ...asUser, PODSERVE_API_SERVERNAME: '' });
    expect(otherName.code).toBe(69);
    expect(otherName.stderr).toMatch(/a certificate for other names .*--servername DOMAIN/);
    const badUrl = await ctl(['--url', 'http//pod', 'status']);
    expect(badUrl.code).toBe(64);
    expect(badUrl.stderr).toMatch(/--url must be a URL such as https:\/\/127\.0\.0\.1:8443; found "http\/\/pod"/);
    const plain = await ctl(['--url', `http://127.0.0.1:${port}`, 'status']);
    expect(plain.code).toBe(64);
    expect(plain.stderr).toMatch(/must be https:\/\//);
    const builtIn = await ctl(['reload']);
    expect(builtIn.code).toBe(64);
    expect(builtIn.stderr).toMatch(
      /ctl reload through the API needs --service NAME; the pod has: api, certificates, fixture/,
    );
  });

  // Last: it locks 127.0.0.1 out for a minute.
  it('rate-limits failed authentications per address: 429 with Retry-After, even for a good token', async () => {
    let limited: Answer | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const a = await call('GET', '/api/v1/status', { token: `wrong-${i}` });
      if (a.status === 429) limited = a;
      else expect(a.status).toBe(401);
    }
    expect(limited?.json().error.code).toBe('rate_limited');
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    const good = await call('GET', '/api/v1/status', { token: tokens.admin });
    expect(good.status).toBe(429);
  });
});
