/**
 * The dns service in its Debian 13 image (BIND 9.20), through podman, as users run it: a state
 * volume, ports published on loopback, real clients from the host (dig, delv, nsupdate), a
 * network namespace as a second host, and the certificates service getting a wildcard
 * certificate from pebble through this server with its own TSIG key.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readCertificatePair } from '@podserve/certificates';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runService, sandbox } from '../certificates/helpers.js';
import { createSecondHost, type SecondHost } from '../support/netns.js';
import { freePort, startPebble } from '../support/pebble.js';
import { eventually, podman, podmanResult, uniqueSuffix } from '../support/podman.js';

const execFileAsync = promisify(execFile);
const DNS = 'localhost/podserve-dns:latest';
// Recursion goes to a dead loopback port: no query from a test ever leaves the machine.
const NO_UPSTREAM = 'DNS_FORWARDERS=127.0.0.1#9';

const created = { containers: [] as string[], volumes: [] as string[] };
let work: string;
let volume: string;
let dns: string;
let port: number;

async function output(cmd: string, args: string[], timeoutMs = 30_000) {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const dig = async (...args: string[]) =>
  (await output('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args])).stdout;
const short = async (...args: string[]) => (await dig('+short', ...args)).trim();
const serial = async () => Number((await short('example.test', 'SOA')).split(' ')[2]);
const ready = (id: string) => podmanResult(['exec', id, '/usr/local/bin/health-check.sh', 'readiness']);
const ctl = (id: string, ...args: string[]) => podmanResult(['exec', id, 'node', 'dist/main.js', 'ctl', ...args]);
const stateDir = async () =>
  join((await podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume])).trim(), 'dns');

/**
 * One request to the control socket inside the container, as the pod's API will make it: the
 * HTTP status and the JSON body (ctl shows neither the status nor the error's code).
 */
async function control(id: string, method: 'GET' | 'POST', path: string, body?: Record<string, unknown>) {
  const script = `
    const r = require('node:http').request(
      { socketPath: '/run/podserve/dns.sock', path: process.argv[1], method: process.argv[2],
        headers: { 'content-type': 'application/json' } },
      (res) => { let b = ''; res.on('data', (d) => (b += d));
        res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: JSON.parse(b) }))); });
    r.end(process.argv[3]);`;
  const run = await podmanResult(['exec', id, 'node', '-e', script, path, method, JSON.stringify(body ?? {})]);
  if (run.code !== 0) throw new Error(`control ${method} ${path}: ${run.stderr}`);
  return JSON.parse(run.stdout) as {
    status: number;
    body: { result?: unknown; error?: { code: string; message: string } };
  };
}

/** The runtime's log records at error level so far (JSON lines on the container's stdout). */
const errorLines = async (id: string) =>
  (await podmanResult(['logs', id])).stdout.split('\n').filter((l) => /"level":"error"/.test(l));

/** nsupdate from the host: `key` is a key file, or undefined for an unsigned update. */
async function nsupdate(lines: string[], key?: string) {
  const script = [`server 127.0.0.1 ${port}`, 'zone example.test.', ...lines, 'send', ''].join('\n');
  const child = execFile('nsupdate', [...(key ? ['-k', key] : []), '-t', '5']);
  child.stdin?.end(script);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  return { code, out };
}

/** One host port for UDP and TCP, as users publish DNS (nsupdate -v and AXFR use TCP). */
async function startDns(env: string[], address = '127.0.0.1', stateVolume = volume) {
  const hostPort = await freePort();
  const publish = ['-p', `${address}:${hostPort}:53/udp`, '-p', `${address}:${hostPort}:53/tcp`];
  const id = (
    await podman([
      'run',
      '-d',
      '-e',
      'DOMAIN=example.test',
      '-e',
      NO_UPSTREAM,
      ...env.flatMap((e) => ['-e', e]),
      '-v',
      `${stateVolume}:/data/state`,
      '-v',
      `${work}:/etc/podserve:ro`,
      ...publish,
      DNS,
      'dns',
    ])
  ).trim();
  created.containers.push(id);
  return id;
}

const publishedPort = async (id: string, proto: 'udp' | 'tcp') =>
  Number((await podman(['port', id, `53/${proto}`])).trim().split(':').pop());

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'podserve-dns-e2e-'));
  writeFileSync(join(work, 'snippet.zone'), 'snippet 300 IN A 192.0.2.44\n');
  writeFileSync(join(work, 'broken.zone'), 'fine 300 IN A 192.0.2.1\nbroken 300 IN A 192.0.2\n');
  volume = `podserve-dns-test-${uniqueSuffix()}`;
  await podman(['volume', 'create', volume]);
  created.volumes.push(volume);
  dns = await startDns(['DNS_ZONE_SNIPPET=/etc/podserve/snippet.zone', 'DNS_RECORDS=blog CNAME www']);
  port = await publishedPort(dns, 'udp');
}, 120_000);

afterAll(async () => {
  for (const id of created.containers) await podmanResult(['rm', '-f', '-v', '-t', '0', id]);
  for (const v of created.volumes) await podmanResult(['volume', 'rm', '-f', v]);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('dns in its image', () => {
  it('is ready within 15 s and answers the zone authoritatively over UDP and TCP', async () => {
    await eventually(async () => (await ready(dns)).code === 0, 15_000, 'dns readiness');
    const udp = await dig('example.test', 'SOA', '+norec');
    expect(udp).toMatch(/;; flags: qr aa;/);
    expect(udp).toMatch(/status: NOERROR/);
    const tcp = (await output('dig', ['@127.0.0.1', '-p', String(port), '+tcp', '+norec', 'example.test', 'SOA']))
      .stdout;
    expect(tcp).toMatch(/;; flags: qr aa;/);
    expect(await short('example.test', 'MX')).toBe('10 mail.example.test.');
    expect(await short('www.example.test', 'A')).toBe('127.0.0.1');
    expect(await short('mail.example.test', 'A')).toBe('127.0.0.1');
    expect(await short('example.test', 'TXT')).toBe('"v=spf1 mx -all"');
    expect(await short('_dmarc.example.test', 'TXT')).toMatch(/^"v=DMARC1; p=quarantine/);
    expect(await short('example.test', 'CAA')).toBe('0 issue "letsencrypt.org"');
    expect(await short('blog.example.test', 'CNAME')).toBe('www.example.test.');
    expect(await short('snippet.example.test', 'A')).toBe('192.0.2.44');
  });

  it('signs the zone: RRSIGs with +dnssec, and delv validates with the zone’s key as trust anchor', async () => {
    expect(await dig('+dnssec', 'example.test', 'SOA')).toMatch(/\sRRSIG\s+SOA\s/);
    const keys = (await short('example.test', 'DNSKEY')).split('\n').filter((k) => k.startsWith('257 '));
    expect(keys.length).toBeGreaterThan(0);
    const [flags, protocol, algorithm, ...key] = (keys[0] as string).split(' ');
    const anchors = join(work, 'anchors.conf');
    writeFileSync(
      anchors,
      `trust-anchors { example.test. static-key ${flags} ${protocol} ${algorithm} "${key.join('')}"; };\n`,
    );
    const delv = await output('delv', [
      '@127.0.0.1',
      '-p',
      String(port),
      '-a',
      anchors,
      '+root=example.test',
      'www.example.test',
      'A',
    ]);
    expect(delv.stdout + delv.stderr).toMatch(/; fully validated/);
    const ds = await ctl(dns, '--service', 'dns', 'ds');
    expect(ds.code, ds.stderr).toBe(0);
    expect(ds.stdout).toMatch(/example\.test\. IN DS \d+ 13 2 [0-9A-F]{64}/);
  });

  it('takes RFC 2136 updates of _acme-challenge TXT with the TSIG key, and refuses everything else', async () => {
    const state = await stateDir();
    const key = join(state, 'tsig', 'acme-update.key');
    // The key the certificates container reads: 0640, group certgroup (9999).
    const stat = await output('stat', ['-c', '%a %g', key, join(state, 'tsig', 'acme-update.secret')]);
    expect(stat.stdout.trim().split('\n')).toEqual(['640 9999', '640 9999']);

    const added = await nsupdate(['update add _acme-challenge.example.test. 60 IN TXT "token-one"'], key);
    expect(added.code, added.out).toBe(0);
    expect(await short('_acme-challenge.example.test', 'TXT')).toBe('"token-one"');

    const unsigned = await nsupdate(['update add _acme-challenge.example.test. 60 IN TXT "unsigned"']);
    expect(unsigned.out).toMatch(/REFUSED/);
    // Signed, but not what the key may change: another name, a name the zone does not have, another type.
    const otherName = await nsupdate(['update add www2.example.test. 60 IN A 192.0.2.9'], key);
    expect(otherName.out).toMatch(/update failed: REFUSED/);
    const unknownName = await nsupdate(['update add _acme-challenge.other.example.test. 60 IN TXT "x"'], key);
    expect(unknownName.out).toMatch(/update failed: REFUSED/);
    const otherType = await nsupdate(['update add _acme-challenge.example.test. 60 IN CAA 0 issue "ca.test"'], key);
    expect(otherType.out).toMatch(/update failed: REFUSED/);
    expect(await dig('_acme-challenge.example.test', 'CAA')).toMatch(/status: NOERROR[\s\S]*ANSWER: 0,/);
    const wrongKey = join(work, 'wrong.key');
    writeFileSync(
      wrongKey,
      'key "acme-update" {\n\talgorithm hmac-sha256;\n\tsecret "d3JvbmctYnV0LWxvbmctZW5vdWdoLXRzaWctc2VjcmV0";\n};\n',
    );
    const forged = await nsupdate(['update add _acme-challenge.example.test. 60 IN TXT "forged"'], wrongKey);
    expect(forged.code).not.toBe(0);
    expect(await short('_acme-challenge.example.test', 'TXT')).toBe('"token-one"');

    // The control actions: records of their own, through named like any signed update.
    const acme = await ctl(
      dns,
      '--service',
      'dns',
      'record-add',
      'name=_acme-challenge.www',
      'type=TXT',
      'value=token-two',
      'ttl=60',
    );
    expect(acme.code, acme.stderr).toBe(0);
    const api = await ctl(dns, '--service', 'dns', 'record-add', 'name=api', 'type=A', 'value=192.0.2.7');
    expect(api.code, api.stderr).toBe(0);
    expect(await short('api.example.test', 'A')).toBe('192.0.2.7');
    const list = await ctl(dns, '--service', 'dns', 'records');
    expect(JSON.parse(list.stdout).records, list.stdout).toEqual([
      { owner: '_acme-challenge.example.test.', ttl: 60, type: 'TXT', data: '"token-one"' },
      { owner: '_acme-challenge.www.example.test.', ttl: 60, type: 'TXT', data: '"token-two"' },
      { owner: 'api.example.test.', ttl: 300, type: 'A', data: '192.0.2.7' },
    ]);
    // What the configuration sets is changed there, not here; a name outside the zone is not ours.
    const configured = await ctl(dns, '--service', 'dns', 'record-add', 'name=www', 'type=A', 'value=192.0.2.8');
    expect(configured.code).not.toBe(0);
    expect(configured.stderr).toMatch(/www\.example\.test\. A is set by the configuration/);
    const outside = await ctl(
      dns,
      '--service',
      'dns',
      'record-add',
      'name=elsewhere.example.net.',
      'type=A',
      'value=192.0.2.8',
    );
    expect(outside.stderr).toMatch(/is not in the zone example\.test/);
    const bad = await ctl(dns, '--service', 'dns', 'record-add', 'name=api2', 'type=A', 'value=300.1.1.1');
    expect(bad.stderr).toMatch(/"300\.1\.1\.1" is not an IPv4 address/);
    const removed = await ctl(dns, '--service', 'dns', 'record-remove', 'name=api', 'type=A');
    expect(removed.code, removed.stderr).toBe(0);
    expect(await short('api.example.test', 'A')).toBe('');
    expect((await ctl(dns, '--service', 'dns', 'record-add', 'name=api', 'type=A', 'value=192.0.2.7')).code).toBe(0);
  });

  it('refuses zone transfers and recursion for clients outside the pod, and hides its version', async () => {
    expect(await dig('example.test', 'AXFR')).toMatch(/Transfer failed/);
    expect(await dig('example.com', 'A')).toMatch(/status: REFUSED/);
    const version = await dig('version.bind', 'TXT', 'CH');
    expect(version).toMatch(/status: (?:REFUSED|NOERROR)/); // an answer came…
    expect(version).not.toMatch(/^version\.bind\.\s.*TXT/m); // …without the version in it
  });

  it('answers a caller’s mistake over the control socket with 400 or 409, and logs no error for it', async () => {
    const errorsBefore = (await errorLines(dns)).length;
    const add = (body: Record<string, unknown>) => control(dns, 'POST', '/v1/actions/record-add', body);
    const badAddress = await add({ name: 'api2', type: 'A', value: '300.1.1.1' });
    expect(badAddress.status).toBe(400);
    expect(badAddress.body.error).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/"300\.1\.1\.1" is not an IPv4 address/),
    });
    expect((await add({ name: 'api2', type: 'NS', value: 'ns9' })).status).toBe(400);
    expect((await add({ type: 'A', value: '192.0.2.9' })).status).toBe(400);
    expect((await add({ name: 'api3', type: 'A', value: '192.0.2.9', weight: 5 })).status).toBe(400);
    // Its input is listed as JSON Schema, for the API and ctl.
    const listed = (await control(dns, 'GET', '/v1/actions')).body as unknown as {
      actions: Array<{ name: string; input?: { required?: string[] } }>;
    };
    expect(listed.actions.find((a) => a.name === 'record-add')?.input?.required).toEqual(['name', 'type', 'value']);
    expect((await add({ name: 'elsewhere.example.net.', type: 'A', value: '192.0.2.8' })).status).toBe(400);
    const removeBad = await control(dns, 'POST', '/v1/actions/record-remove', { name: 'api2', type: 'SOA' });
    expect(removeBad.status).toBe(400);
    // What the configuration sets: well-formed, but it clashes with what is there.
    const configured = await add({ name: 'www', type: 'A', value: '192.0.2.8' });
    expect(configured.status).toBe(409);
    expect(configured.body.error).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/www\.example\.test\. A is set by the configuration/),
    });
    expect((await add({ name: 'blog', type: 'TXT', value: 'beside a configured CNAME' })).status).toBe(409);
    expect((await control(dns, 'POST', '/v1/actions/record-remove', { name: 'www', type: 'A' })).status).toBe(409);
    expect(await errorLines(dns)).toHaveLength(errorsBefore);
  });

  it('refuses a record named would ignore beside a CNAME (409), and the reverse, before sending it', async () => {
    const add = (body: Record<string, unknown>) => control(dns, 'POST', '/v1/actions/record-add', body);
    const alias = await add({ name: 'alias', type: 'CNAME', value: 'www' });
    expect(alias.status, JSON.stringify(alias.body)).toBe(200);
    expect(await short('alias.example.test', 'CNAME')).toBe('www.example.test.');
    const beside = await add({ name: 'alias', type: 'A', value: '192.0.2.3' });
    expect(beside.status, JSON.stringify(beside.body)).toBe(409);
    expect(beside.body.error?.message).toMatch(/alias\.example\.test\. is a CNAME/);
    const answer = await dig('+norec', 'alias.example.test', 'A');
    expect(answer).not.toMatch(/^alias\.example\.test\.\s+\d+\s+IN\s+A\s/m);

    const data = await add({ name: 'data2', type: 'TXT', value: 'some text' });
    expect(data.status, JSON.stringify(data.body)).toBe(200);
    const cname = await add({ name: 'data2', type: 'CNAME', value: 'www' });
    expect(cname.status, JSON.stringify(cname.body)).toBe(409);
    expect(cname.body.error?.message).toMatch(/data2\.example\.test\. has TXT data/);
    expect(await short('data2.example.test', 'TXT')).toBe('"some text"');
    expect(await short('data2.example.test', 'CNAME')).toBe('');

    for (const [name, type] of [
      ['alias', 'CNAME'],
      ['data2', 'TXT'],
    ]) {
      const removed = await control(dns, 'POST', '/v1/actions/record-remove', { name, type });
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    }
  });

  it('answers ANY without EDNS with one RRset over UDP: at most 5× the query, no amplification', async () => {
    // dig sends ANY over TCP unless told otherwise, and retries a truncated UDP answer over TCP
    // unless told to ignore it: the size measured must be the UDP datagram's.
    const reply = await dig('+noedns', '+norec', '+notcp', '+ignore', 'example.test', 'ANY');
    expect(reply).toMatch(/^;; SERVER: .*\(UDP\)$/m);
    expect(reply).toMatch(/status: NOERROR/);
    const received = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(reply)?.[1]);
    // Header, the name in wire form (a length byte per label and the root's 0), type and class.
    const query = 12 + 'example.test'.split('.').reduce((n, label) => n + 1 + label.length, 1) + 4;
    expect(query).toBe(30);
    expect(received).toBeGreaterThan(query);
    expect(received).toBeLessThanOrEqual(5 * query);
    expect(reply).toMatch(/^;; flags: qr aa;/m); // the whole (minimal) answer, not a truncated one
  });

  it('applies a changed snippet and a new DKIM key on reload, keeps the dynamic records, refuses a broken one', async () => {
    const before = await serial();
    writeFileSync(join(work, 'snippet.zone'), 'snippet 300 IN A 192.0.2.45\n');
    // What opendkim-genkey writes, as the mail service will publish it.
    const dkimDir = join(await stateDir(), '..', 'dkim');
    mkdirSync(dkimDir, { recursive: true });
    const p = 'A'.repeat(300);
    writeFileSync(
      join(dkimDir, 'mail.txt'),
      `mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n\t  "p=${p}" )  ; ----- DKIM key mail for example.test\n`,
    );
    const reload = await ctl(dns, '--service', 'dns', 'reload');
    expect(reload.code, reload.stderr).toBe(0);
    expect(await short('snippet.example.test', 'A')).toBe('192.0.2.45');
    expect((await short('mail._domainkey.example.test', 'TXT')).replace(/" "/g, '')).toBe(
      `"v=DKIM1; h=sha256; k=rsa; p=${p}"`,
    );
    expect(await serial()).toBeGreaterThan(before);
    expect(await short('_acme-challenge.example.test', 'TXT')).toBe('"token-one"');
    expect(await short('_acme-challenge.www.example.test', 'TXT')).toBe('"token-two"');

    const good = await serial();
    writeFileSync(join(work, 'snippet.zone'), 'snippet 300 IN A not-an-address\n');
    const refused = await ctl(dns, '--service', 'dns', 'reload');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toMatch(
      /refused by its checker.*DNS_ZONE_SNIPPET \/etc\/podserve\/snippet\.zone:1: near 'not-an-address': bad dotted quad/,
    );
    expect(await short('snippet.example.test', 'A')).toBe('192.0.2.45');
    expect(await serial()).toBe(good);
    writeFileSync(join(work, 'snippet.zone'), 'snippet 300 IN A 192.0.2.45\n');
    expect((await ctl(dns, '--service', 'dns', 'reload')).code).toBe(0);

    // Two reloads at once (SIGHUP and ctl, two operators): one change, one higher serial, nothing lost.
    const beforeBoth = await serial();
    writeFileSync(join(work, 'snippet.zone'), 'snippet 300 IN A 192.0.2.46\n');
    const both = await Promise.all([ctl(dns, '--service', 'dns', 'reload'), ctl(dns, '--service', 'dns', 'reload')]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    expect(await short('snippet.example.test', 'A')).toBe('192.0.2.46');
    expect(await serial()).toBeGreaterThan(beforeBoth);
    expect(await short('_acme-challenge.example.test', 'TXT')).toBe('"token-one"');
  });

  it('ctl reload while named is stopped fails naming named; it works again once named runs', async () => {
    const stopped = await ctl(dns, '--service', 'dns', 'stop', 'named');
    expect(stopped.code, stopped.stderr).toBe(0);
    try {
      const reload = await ctl(dns, '--service', 'dns', 'reload');
      expect(reload.code).toBe(1);
      expect(reload.stdout).not.toMatch(/reloaded/);
      expect(reload.stderr).toMatch(/reload failed.*named is stopped/);
    } finally {
      const started = await ctl(dns, '--service', 'dns', 'start', 'named');
      expect(started.code, started.stderr).toBe(0);
    }
    await eventually(async () => (await ready(dns)).code === 0, 20_000, 'dns ready again');
    const again = await ctl(dns, '--service', 'dns', 'reload');
    expect(again.code, again.stderr).toBe(0);
    // Not left frozen: the zone takes updates again.
    const added = await ctl(dns, '--service', 'dns', 'record-add', 'name=after-reload', 'type=A', 'value=192.0.2.77');
    expect(added.code, added.stderr).toBe(0);
    expect(await short('after-reload.example.test', 'A')).toBe('192.0.2.77');
    expect((await ctl(dns, '--service', 'dns', 'record-remove', 'name=after-reload', 'type=A')).code).toBe(0);
  });

  it('restarts named after kill -9 and is ready again', async () => {
    const named = async () => {
      const status = JSON.parse((await ctl(dns, '--service', 'dns', '--json', 'status')).stdout);
      return status.processes.find((p: { name: string }) => p.name === 'named') as { pid: number; restarts: number };
    };
    const before = await named();
    const killed = await podmanResult(['exec', dns, 'kill', '-9', String(before.pid)]);
    expect(killed.code, killed.stderr).toBe(0);
    await eventually(
      async () => {
        const now = await named().catch(() => undefined);
        return now !== undefined && now.pid !== before.pid && now.restarts === before.restarts + 1;
      },
      10_000,
      'named restarted under a new pid',
    );
    await eventually(async () => (await ready(dns)).code === 0, 20_000, 'dns ready again');
    expect(await dig('example.test', 'SOA', '+norec')).toMatch(/;; flags: qr aa;/);
    expect(await short('_acme-challenge.example.test', 'TXT')).toBe('"token-one"');
    expect(await short('_acme-challenge.www.example.test', 'TXT')).toBe('"token-two"');
  });

  it('renders the zone again at restart: an env change shows with a higher serial, dynamic records stay', async () => {
    const before = await serial();
    const dnskey = await short('example.test', 'DNSKEY');
    await podman(['stop', '-t', '10', dns]);
    dns = await startDns([
      'DNS_ZONE_SNIPPET=/etc/podserve/snippet.zone',
      'DNS_RECORDS=blog CNAME www; shop A 192.0.2.80',
      'DNS_ADDRESSES=192.0.2.10',
    ]);
    port = await publishedPort(dns, 'udp');
    await eventually(async () => (await ready(dns)).code === 0, 15_000, 'dns ready after restart');
    expect(await serial()).toBeGreaterThan(before);
    expect(await short('shop.example.test', 'A')).toBe('192.0.2.80');
    expect(await short('www.example.test', 'A')).toBe('192.0.2.10');
    expect((await short('_acme-challenge.example.test', 'TXT')).split('\n')).toEqual(['"token-one"']);
    expect(await short('_acme-challenge.www.example.test', 'TXT')).toBe('"token-two"');
    expect(await short('api.example.test', 'A')).toBe('192.0.2.7');
    // The keys stayed: the same DNSKEY signs, the same TSIG key updates.
    expect(await short('example.test', 'DNSKEY')).toBe(dnskey);
    const key = join(await stateDir(), 'tsig', 'acme-update.key');
    const removed = await nsupdate(['update delete _acme-challenge.www.example.test. TXT'], key);
    expect(removed.code, removed.out).toBe(0);
    expect(await short('_acme-challenge.www.example.test', 'TXT')).toBe('');
  });

  it('issues a wildcard certificate from pebble through DNS-01 with this server’s TSIG key', async () => {
    const pebble = await startPebble({ dnsServer: `127.0.0.1:${port}` });
    const secretFile = join(await stateDir(), 'tsig', 'acme-update.secret');
    const b = await sandbox({
      CERT_ISSUER: 'acme',
      LE_EMAIL: 'admin@example.test',
      CERT_SANS: '*.example.test',
      ACME_DIRECTORY_URL: pebble.directoryUrl,
      ACME_CA_FILE: pebble.caFile,
      ACME_CHALLENGE: 'dns-01',
      ACME_DNS_SERVER: `127.0.0.1:${port}`,
      ACME_TSIG_KEY_NAME: 'acme-update',
      ACME_TSIG_SECRET_FILE: secretFile,
    });
    try {
      const run = await runService(b.env);
      expect(run.code, run.output).toBe(0);
      expect((await readCertificatePair(b.certPath)).names).toEqual(['example.test', '*.example.test']);
      expect(run.output).not.toContain(readFileSync(secretFile, 'utf8').trim());
      // The certificates service removed its challenge again; the earlier token is untouched.
      expect((await short('_acme-challenge.example.test', 'TXT')).split('\n')).toEqual(['"token-one"']);
    } finally {
      await b.cleanup();
      await pebble.stop();
    }
  }, 120_000);
});

describe('dns configuration errors', () => {
  it('--dry-run shows named.conf and the zone with the checkers’ verdict (stand-in keys), and starts nothing', async () => {
    const good = await podmanResult(['run', '--rm', '-e', 'DOMAIN=example.test', DNS, 'dns', '--dry-run']);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^# process named: \/usr\/sbin\/named -f -u bind -c \S+\/named\.conf/m);
    expect(good.stdout).toMatch(/^# ---- \S+\/named\.conf \(mode 0644\)$/m);
    expect(good.stdout).toMatch(/^@\s+IN MX\s+10 mail\.example\.test\.$/m);
    expect(good.stderr).toContain('dry run: named-checkconf and named-checkzone: OK');
    // No key is made in a dry run: the stand-ins never reach the output.
    expect(good.stdout).not.toMatch(/secret "/);

    const bad = await podmanResult([
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-e',
      'DNS_ZONE_SNIPPET=/etc/podserve/broken.zone',
      '-v',
      `${work}:/etc/podserve:ro`,
      DNS,
      'dns',
      '--dry-run',
    ]);
    expect(bad.stderr).toMatch(
      /dry run: named-checkconf and named-checkzone refused it: DNS_ZONE_SNIPPET \/etc\/podserve\/broken\.zone:2: .*bad dotted quad/,
    );
  });

  it('a malformed DNS_RECORDS entry exits 78 naming the variable and the record, before anything is written', async () => {
    const run = await podmanResult([
      'run',
      '--rm',
      '-e',
      'DOMAIN=example.test',
      '-e',
      'DNS_RECORDS=www2 A 192.0.2.10; api AAAA 192.0.2.11',
      DNS,
      'dns',
    ]);
    expect(run.code).toBe(78);
    expect(run.stdout + run.stderr).toMatch(
      /DNS_RECORDS: .*record 2, \\?"api AAAA 192\.0\.2\.11\\?": \\?"192\.0\.2\.11\\?" is not an IPv6 address/,
    );
  });
  it('a value that would break the zone file exits 78 naming the variable and the record, not the checker’s file', async () => {
    const run = (env: string) => podmanResult(['run', '--rm', '-e', 'DOMAIN=example.test', '-e', env, DNS, 'dns']);
    const newline = await run('DNS_RECORDS=www2 A 192.0.2.10; note TXT "line one\nline two"');
    expect(newline.code, newline.stderr).toBe(78);
    expect(newline.stdout + newline.stderr).toMatch(/DNS_RECORDS: .*record 2, .*note TXT.*a new line/);
    expect(newline.stdout + newline.stderr).not.toMatch(/db\.example\.test:\d+/);

    const cname = await run('DNS_RECORDS=www CNAME @');
    expect(cname.code, cname.stderr).toBe(78);
    expect(cname.stdout + cname.stderr).toMatch(/DNS_RECORDS: .*record 1, \\?"www CNAME @\\?": www has records/);

    const dmarc = await run('DNS_DMARC=v=DMARC1; p=reject;\nrua=mailto:x@example.test');
    expect(dmarc.code, dmarc.stderr).toBe(78);
    expect(dmarc.stdout + dmarc.stderr).toMatch(/DNS_DMARC: /);
  });
});

describe('dns recursion from a second host (a network namespace)', () => {
  let second: SecondHost;
  let hostSide: string;
  let client: string;
  let ns: string;

  beforeAll(async () => {
    second = await createSecondHost('podserve-dns');
    ({ hostSide, client, ns } = second);
  });
  afterAll(async () => {
    await second?.remove();
  });

  const fromClient = async (target: number, name: string) =>
    (
      await output('ip', [
        'netns',
        'exec',
        ns,
        'dig',
        `@${hostSide}`,
        '-p',
        String(target),
        '+time=3',
        '+tries=1',
        name,
        'A',
      ])
    ).stdout;

  it('answers the zone to any client but refuses recursion unless the client is allowed', async () => {
    // Each server its own state volume: two named must never share a zone file.
    const ownVolume = async () => {
      const v = `podserve-dns-test-${uniqueSuffix()}`;
      await podman(['volume', 'create', v]);
      created.volumes.push(v);
      return v;
    };
    // The closed server has a secondary too, elsewhere: its transfer key alone does not let the client in.
    const closedVolume = await ownVolume();
    const closed = await startDns(
      ['DNS_RECURSION_CLIENTS=127.0.0.0/8, ::1', 'DNS_SECONDARIES=192.0.2.99'],
      hostSide,
      closedVolume,
    );
    const openedVolume = await ownVolume();
    const opened = await startDns(
      [`DNS_RECURSION_CLIENTS=127.0.0.0/8, ${client}`, `DNS_SECONDARIES=${client}`],
      hostSide,
      openedVolume,
    );
    for (const id of [closed, opened]) {
      await eventually(async () => (await ready(id)).code === 0, 20_000, 'dns ready');
    }
    const closedPort = await publishedPort(closed, 'udp');
    const openedPort = await publishedPort(opened, 'udp');
    // The zone itself: answered to everyone.
    expect(await fromClient(closedPort, 'www.example.test')).toMatch(/status: NOERROR[\s\S]*flags: qr aa/);
    // A name elsewhere: refused to a client outside DNS_RECURSION_CLIENTS…
    expect(await fromClient(closedPort, 'example.com')).toMatch(/status: REFUSED/);
    // …and tried for one inside it (SERVFAIL: the only upstream is a dead loopback port).
    const allowed = await fromClient(openedPort, 'example.com');
    expect(allowed).toMatch(/status: SERVFAIL/);
    expect(allowed).toMatch(/flags: qr rd ra/);

    // Zone transfers: only the configured secondary, and only signed with the transfer key.
    const transferKey = join(
      (await podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', openedVolume])).trim(),
      'dns',
      'tsig',
      'transfer.key',
    );
    const axfr = (target: number, key?: string) =>
      output('ip', [
        'netns',
        'exec',
        ns,
        'dig',
        ...(key ? ['-k', key] : []),
        `@${hostSide}`,
        '-p',
        String(target),
        '+time=3',
        '+tries=1',
        'example.test',
        'AXFR',
      ]);
    const signed = await axfr(openedPort, transferKey);
    expect(signed.stdout).toMatch(/^www\.example\.test\.\s+\d+\s+IN\s+A\s+127\.0\.0\.1$/m);
    expect(signed.stdout).toMatch(/XFR size: \d+ records/);
    expect((await axfr(openedPort)).stdout).toMatch(/Transfer failed/);
    const closedKey = join(
      (await podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', closedVolume])).trim(),
      'dns',
      'tsig',
      'transfer.key',
    );
    const notSecondary = await axfr(closedPort, closedKey);
    expect(notSecondary.stdout).toMatch(/; Transfer failed\./);
    expect(notSecondary.stdout).not.toMatch(/XFR size/);
  }, 90_000);
});
