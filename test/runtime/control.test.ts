// The control socket and `ctl`, against the real runtime: a fixture service with real
// processes, and the certificates service with its `renew` action.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  distMain,
  fixtureService,
  isolatedEnv,
  parseRecords,
  type Run,
  runToEnd,
  start,
  tempDir,
  tsxNode,
} from '../support/processes.js';

let dir: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
const running: Run[] = [];
beforeEach(() => {
  dir = tempDir('podserve-ctl-');
  env = { ...isolatedEnv(dir.path), FIXTURE_DIR: join(dir.path, 'conf') };
});
afterEach(async () => {
  for (const run of running.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
    await run.exited;
  }
  dir.cleanup();
});

const ctl = (...args: string[]) =>
  runToEnd(['node', distMain, 'ctl', ...args], { PODSERVE_RUN_DIR: join(dir.path, 'run') });

function startFixture(processes: object[]): Run {
  const run = start([...tsxNode, fixtureService], { ...env, FIXTURE_PROCESSES: JSON.stringify(processes) });
  running.push(run);
  return run;
}

describe('ctl against a running service', () => {
  it('shows status, restarts a failed process (restart counted), reloads, and refuses what does not exist', async () => {
    const flag = join(dir.path, 'mended');
    const run = startFixture([
      // SIGHUP is its reload and must not end it (sleep would die of it, and be restarted).
      { name: 'steady', command: 'sh', args: ['-c', 'trap "" HUP; exec sleep 1000'], reload: { signal: 'SIGHUP' } },
      {
        name: 'flappy',
        command: 'sh',
        args: ['-c', `[ -e ${flag} ] || exit 4; exec sleep 1000`],
        crashLoopLimit: 2,
        failedRetryMs: 0,
        backoff: { initialMs: 20 },
      },
    ]);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    await run.waitFor((r) => r.stdout().includes('crash loop'), 10_000, 'crash loop');

    const socket = join(dir.path, 'run', 'fixture.sock');
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o660);

    const before = await ctl('status');
    expect(before.code).toBe(1); // not ready: flappy failed
    // The header is the verdict, not the phase: a failed process makes it NOT READY.
    expect(before.stdout).toMatch(/^fixture \(mode run, pid \d+\): NOT READY \(phase ready\)$/m);
    expect(before.stdout).toMatch(/^flappy +failed +- +1 +ok +code 4 +crash loop/m);
    expect(before.stdout).toMatch(/^steady +running +\d+ +0 +ok/m);

    writeFileSync(flag, '');
    const restarted = await ctl('restart', 'flappy');
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toMatch(/^flappy: running \(pid \d+\), 2 restart\(s\)$/m);
    const after = await ctl('--json', 'status');
    expect(after.code).toBe(0);
    const status = JSON.parse(after.stdout);
    expect(status.readiness.ok).toBe(true);
    // PID 1's footprint, as a soak run samples it.
    expect(status.runtime.rss).toBeGreaterThan(status.runtime.heapUsed);
    // Counted while answering: the request's own connection is one of them.
    expect(Math.abs(status.runtime.fds - readdirSync(`/proc/${run.child.pid}/fd`).length)).toBeLessThanOrEqual(1);
    expect(status.processes.find((p: { name: string }) => p.name === 'flappy')).toMatchObject({
      state: 'running',
      restarts: 2,
    });

    const reload = await ctl('reload');
    expect(reload.code, reload.stderr).toBe(0);
    await run.waitFor((r) => r.stdout().includes('reload requested over the control socket'), 5_000, 'reload log');
    expect(run.stdout()).toContain('reload: sending SIGHUP');

    const stop = await ctl('stop', 'steady');
    expect(stop.stdout).toMatch(/^steady: stopped, 0 restart\(s\)$/m);
    expect((await ctl('status')).code).toBe(1);

    const unknown = await ctl('restart', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('ctl restart: no process "nope"; this service has: steady, flappy\n');
    const noAction = await ctl('frobnicate');
    expect(noAction.code).toBe(64);
    expect(noAction.stderr).toMatch(/unknown command "frobnicate"; this service's actions: notes, notes-add/);
  });

  it('serves the last log records and follows new ones as they come', async () => {
    const run = startFixture([
      { name: 'ticker', command: 'sh', args: ['-c', 'while :; do echo tick; sleep 0.2; done'] },
    ]);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const last = await ctl('--json', 'logs', '-n', '3');
    expect(last.code).toBe(0);
    const lines = last.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(JSON.parse(line).service).toBe('fixture');

    const follow = start(['node', distMain, 'ctl', 'logs', '-n', '0', '-f'], {
      PODSERVE_RUN_DIR: join(dir.path, 'run'),
    });
    running.push(follow);
    const started = Date.now();
    await follow.waitFor((r) => r.stdout().includes('[ticker] tick'), 5_000, 'a followed line');
    expect(Date.now() - started).toBeLessThan(2_000);
    follow.child.kill('SIGINT');
    expect((await follow.exited).code).toBe(0);
  });

  it("answers callers' mistakes with 4xx and the error shape, logging nothing at error level", async () => {
    const run = startFixture([{ name: 'steady', command: 'sleep', args: ['1000'] }]);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const socket = join(dir.path, 'run', 'fixture.sock');
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ['POST', '/v1/actions/constructor', undefined, 404, 'not_found'],
      ['POST', '/v1/actions/__proto__', undefined, 404, 'not_found'],
      ['POST', '/v1/actions/toString', undefined, 404, 'not_found'],
      ['POST', '/v1/actions/hasOwnProperty', '{}', 404, 'not_found'],
      ['POST', '/v1/actions/x', 'not json', 400, 'bad_request'],
      ['POST', '/v1/actions/x', '[1,2]', 400, 'bad_request'],
      ['POST', '/v1/actions/x', '"text"', 400, 'bad_request'],
      ['POST', '/v1/actions/x', 'null', 400, 'bad_request'],
      ['POST', '/v1/processes/%E0%A4%A/start', undefined, 400, 'bad_request'],
      ['GET', 'http://[bad/v1/status', undefined, 400, 'bad_request'],
      ['GET', '/v1/nothing', undefined, 404, 'not_found'],
    ];
    // Every endpoint takes its one method; anything else is 405 with Allow (the protocol's code: bad_request).
    for (const [path, allowed] of [
      ['/v1/status', 'GET'],
      ['/v1/logs', 'GET'],
      ['/v1/actions', 'GET'],
      ['/v1/reload', 'POST'],
      ['/v1/processes/steady/restart', 'POST'],
      ['/v1/actions/x', 'POST'],
    ] as const) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        if (method !== allowed) cases.push([method, path, undefined, 405, 'bad_request']);
      }
    }
    for (const [method, path, body, status, code] of cases) {
      const answer = await rawRequest(socket, method, path, body);
      expect(answer.status, `${method} ${path} ${body ?? ''}`).toBe(status);
      expect(JSON.parse(answer.body), `${method} ${path}`).toMatchObject({ error: { code } });
      if (status === 405) expect(answer.headers).toMatch(/^allow: (GET|POST)\r?$/im);
      // An error answer says its protocol version too, so a client can tell it from a stranger's.
      expect(answer.headers, `${method} ${path}`).toMatch(/^podserve-protocol: 1\r?$/im);
    }
    const errors = parseRecords(run.stdout()).filter((r) => r.level === 'error' || r.level === 'fatal');
    expect(errors).toEqual([]);
    // Still serving after all that.
    expect((await ctl('status')).code).toBe(0);
  });

  it('shares one readiness evaluation between concurrent status callers, and bounds them', async () => {
    const run = start([...tsxNode, fixtureService], {
      ...env,
      FIXTURE_READINESS_MS: '300',
      FIXTURE_PROCESSES: JSON.stringify([{ name: 'steady', command: 'sleep', args: ['1000'] }]),
    });
    running.push(run);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const socket = join(dir.path, 'run', 'fixture.sock');
    const runs = async () => JSON.parse((await rawRequest(socket, 'GET', '/v1/status')).body).details.readinessRuns;
    await new Promise((r) => setTimeout(r, 1_100)); // past the shared window of the last one
    const before = await runs();
    const answers = await Promise.all(Array.from({ length: 300 }, () => rawRequest(socket, 'GET', '/v1/status')));
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    const reset = answers.filter((a) => a.status === 0);
    expect(ok.length + busy.length + reset.length).toBe(300);
    expect(ok.length).toBeGreaterThanOrEqual(64);
    for (const a of busy) expect(JSON.parse(a.body).error.code).toBe('unavailable');
    // 300 callers within ~300 ms: one evaluation (two if the window turned), not 300. The
    // status publisher's own heartbeat may add one.
    const after = await runs();
    expect(after - before).toBeLessThanOrEqual(4);
  });

  it('says so when nothing answers (exit 69) and refuses bad usage (exit 64)', async () => {
    const none = await ctl('status');
    expect(none.code).toBe(69);
    expect(none.stderr).toMatch(/no control sockets? in .*run/);
    const usage = await ctl('restart');
    expect(usage.code).toBe(64);
    expect(usage.stderr).toMatch(/ctl restart needs a process name/);
    const outside = await ctl('--service', '../../tmp/x', 'status');
    expect(outside.code).toBe(64);
    expect(outside.stderr).toMatch(/--service takes a service name .* found "\.\.\/\.\.\/tmp\/x"/);
    const help = await ctl('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ctl: command a running service/);
  });

  it('numbers log records for a reader that resumes: after an id it gets exactly what followed, and hears of a restart', async () => {
    const run = startFixture([{ name: 'steady', command: 'sleep', args: ['1000'] }]);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const socket = join(dir.path, 'run', 'fixture.sock');
    const { get } = await import('node:http');
    const logs = (query: string) =>
      new Promise<{ headers: Record<string, unknown>; lines: Array<{ id: string; record: { msg?: string } }> }>(
        (resolve, reject) =>
          get({ socketPath: socket, path: `/v1/logs?${query}` }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () =>
              resolve({
                headers: res.headers,
                lines: text
                  .split('\n')
                  .filter(Boolean)
                  .map((l) => JSON.parse(l)),
              }),
            );
          }).on('error', reject),
      );
    const all = await logs('lines=1000&ids=1');
    expect(all.lines.length).toBeGreaterThan(3);
    const ids = all.lines.map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Resuming after the third record: the rest, none repeated, none left out.
    const resumed = await logs(`after=${encodeURIComponent(ids[2] as string)}`);
    expect(resumed.headers['podserve-log-missed']).toBe('0');
    expect(resumed.lines.map((l) => l.id).slice(0, ids.length - 3)).toEqual(ids.slice(3));
    // An id of another run (the service restarted): everything kept, and the answer says so.
    const other = await logs('after=zzzz.2');
    expect(other.headers['podserve-log-missed']).toBe('restarted');
    expect(other.lines[0]?.id).toBe(ids[0]);
    expect((await rawRequest(socket, 'GET', '/v1/logs?after=../x')).status).toBe(400);
  });

  it("checks the caller's credentials (SO_PEERCRED): another user gets 403 even through a socket whose mode was widened", async () => {
    const run = startFixture([{ name: 'steady', command: 'sleep', args: ['1000'] }]);
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const { chmodSync } = await import('node:fs');
    const { execFile } = await import('node:child_process');
    const socket = join(dir.path, 'run', 'fixture.sock');
    // Someone widened the mode: the kernel's word on who connects is what is left.
    for (const p of [dir.path, join(dir.path, 'run')]) chmodSync(p, 0o755);
    chmodSync(socket, 0o666);
    const client = `require('node:http').get({ socketPath: ${JSON.stringify(socket)}, path: '/v1/status' }, (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => { console.log(res.statusCode, t); }); }).on('error', (e) => console.log('error', e.code));`;
    const as = (uid: number) =>
      new Promise<string>((resolve) =>
        execFile('node', ['-e', client], { uid, gid: uid }, (_err, stdout) => resolve(String(stdout).trim())),
      );
    const nobody = await as(65534);
    expect(nobody).toMatch(/^403 .*"code":"forbidden".*uid 65534 may not command this service/);
    expect(await as(0)).toMatch(/^200 /);
    await run.waitFor(
      (r) => r.stdout().includes('control socket: refused a caller with uid 65534'),
      5_000,
      'the warning',
    );
  });

  it('refuses to become ready when another process answers on its socket, saying why (a probe shows it)', async () => {
    const { createServer } = await import('node:http');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir.path, 'run'), { recursive: true });
    const path = join(dir.path, 'run', 'fixture.sock');
    // Whoever bound the socket first: it would receive the requests meant for the service.
    const squatter = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => squatter.listen(path, resolve));
    try {
      const run = startFixture([{ name: 'steady', command: 'sleep', args: ['1000'] }]);
      await run.waitFor((r) => r.stdout().includes('another process answers on'), 20_000, 'the refusal');
      const record = run.records().find((r) => String(r.msg).includes('another process answers on'));
      expect(record?.level).toBe('error');
      const probe = await runToEnd(['node', distMain, 'health', 'readiness', 'fixture'], {
        PODSERVE_RUN_DIR: join(dir.path, 'run'),
      });
      await new Promise((r) => setTimeout(r, 1_000));
      const again = await runToEnd(['node', distMain, 'health', 'readiness', 'fixture'], {
        PODSERVE_RUN_DIR: join(dir.path, 'run'),
      });
      for (const p of [probe, again]) expect(p.code).toBe(1);
      expect(again.stdout + again.stderr).toMatch(
        /fixture: not ready: another process answers on .*fixture\.sock .*refuses to become ready/,
      );
    } finally {
      squatter.close();
    }
  });

  it('refuses an answer in another protocol version (exit 76), or from something that is no PodServe socket', async () => {
    const { createServer } = await import('node:http');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir.path, 'run'), { recursive: true });
    // A server of a newer release: a status answer, but protocol 2.
    for (const [header, expected] of [
      ['2', /speaks PodServe protocol "2"; this client speaks 1 \(this client is older than the server/],
      [undefined, /did not say which PodServe protocol it speaks/],
    ] as const) {
      const path = join(dir.path, 'run', `other-${header ?? 'none'}.sock`);
      const server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', ...(header ? { 'podserve-protocol': header } : {}) });
        res.end('{"service":"future"}');
      });
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        const answer = await ctl('--socket', path, 'status');
        expect(answer.code).toBe(76);
        expect(answer.stderr).toMatch(expected);
      } finally {
        server.close();
      }
    }
  });

  it('certificates: `ctl renew` publishes a new generation and status shows it', async () => {
    const certPath = join(dir.path, 'certs');
    const run = start(['node', distMain, 'certificates'], {
      ...isolatedEnv(dir.path),
      DOMAIN: 'example.test',
      CERT_PATH: certPath,
    });
    running.push(run);
    await run.waitFor((r) => r.stdout().includes('certificates ready'), 20_000, 'ready');
    const before = JSON.parse((await ctl('--json', 'status')).stdout).details.generation;
    const renew = await ctl('--json', 'renew');
    expect(renew.code, renew.stderr).toBe(0);
    const result = JSON.parse(renew.stdout);
    expect(result.generation).not.toBe(before);
    expect(result.names).toEqual(['example.test']);
    const after = JSON.parse((await ctl('--json', 'status')).stdout);
    expect(after.details.generation).toBe(result.generation);
    expect(after.actions).toEqual([
      {
        name: 'renew',
        summary: expect.stringContaining('issue a new certificate now'),
        phases: ['ready'],
        // What it answers, as JSON Schema: the API's OpenAPI document shows it.
        output: expect.objectContaining({ type: 'object', required: ['generation', 'names', 'notAfter'] }),
      },
    ]);
  });
});

/** One request written by hand: methods, targets and bodies a well-behaved client would not send. */
function rawRequest(
  socket: string,
  method: string,
  target: string,
  body?: string,
): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let text = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      text += chunk;
    });
    // Past the server's connection bound it closes at once: that caller sees a reset.
    conn.on('error', (err: NodeJS.ErrnoException) =>
      ['EPIPE', 'ECONNRESET'].includes(err.code ?? '') ? resolve({ status: 0, headers: '', body: '' }) : reject(err),
    );
    conn.on('end', () => {
      const [head = '', rest = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), headers: head, body: rest });
    });
    const payload = body ?? '';
    conn.write(
      `${method} ${target} HTTP/1.1\r\nHost: control\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
  });
}
