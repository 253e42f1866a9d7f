import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envTypes, RealFileOps } from '@podserve/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { tempDir } from '../../../test/support/processes.js';
import { dnsEnv } from './config.js';
import { clientList, serverList } from './env-types.js';
import { ensureTsigKey, keyClause, parseKeyClause } from './keys.js';
import { renderNamedConf } from './named-conf.js';
import { parseRecord } from './records.js';
import { dnsSettings } from './settings.js';
import { checkerMessage, parseCompiled } from './zone-store.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('podserve-dns-unit-');
});
afterEach(() => dir.cleanup());

const parse = <T>(type: envTypes.EnvType<T>, raw: string) => envTypes.parseValue(type, raw);

describe('DNS environment types', () => {
  it('takes resolvers as ADDRESS or ADDRESS#PORT and renders BIND’s "port"', () => {
    expect(parse(serverList(), '192.0.2.53, 2001:db8::53#5353')).toEqual({
      ok: true,
      value: ['192.0.2.53', '2001:db8::53 port 5353'],
    });
    expect(parse(serverList(), '192.0.2.53#99999')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/"192\.0\.2\.53#99999" has a port outside 1 to 65535/),
    });
  });

  it('refuses "any" as recursion clients (an open resolver) and takes addresses, prefixes or none', () => {
    expect(parse(clientList(), '127.0.0.0/8, ::1, 192.0.2.0/24')).toMatchObject({ ok: true });
    expect(parse(clientList(), 'none')).toEqual({ ok: true, value: ['none'] });
    expect(parse(clientList(), 'any')).toMatchObject({ ok: false, message: expect.stringMatching(/open resolver/) });
    expect(parse(clientList(), '192.0.2.0/33')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/prefix length outside 0 to 32/),
    });
  });

  it('keeps _acme-challenge out of DNS_RECORDS: those names belong to RFC 2136', () => {
    expect(parseRecord('_acme-challenge TXT "x"')).toMatch(/kept for RFC 2136/);
    expect(parseRecord('_acme-challenge.www TXT "x"')).toMatch(/kept for RFC 2136/);
  });
});

describe('named.conf', () => {
  const settings = (env: Record<string, string>) => {
    const values: Record<string, unknown> = {};
    for (const [name, decl] of Object.entries(dnsEnv)) {
      const raw = env[name] ?? (decl as { default?: string }).default;
      if (raw === undefined) continue;
      const parsed = envTypes.parseValue(decl as envTypes.EnvType<unknown>, raw);
      if (!parsed.ok) throw new Error(`${name}: ${parsed.message}`);
      values[name] = parsed.value;
    }
    return dnsSettings({ ...values, DNS_STATE_DIR: dir.path, DNS_RUN_DIR: dir.path } as never);
  };

  /** named-checkconf (the host's BIND; these options mean the same in 9.18 and 9.20) on the rendered file. */
  const check = (env: Record<string, string>, wasSigned = false) => {
    const s = settings({ DOMAIN: 'example.test', DNS_ADDRESSES: '192.0.2.1', ...env });
    const conf = renderNamedConf({ settings: s, acmeNames: ['example.test', 'www.example.test'], wasSigned });
    for (const [file, name] of [
      [s.paths.updateKey, s.updateKeyName],
      [s.paths.transferKey, s.transferKeyName],
      [s.paths.rndcKey, 'rndc-key'],
    ] as const) {
      execFileSync('mkdir', ['-p', join(file, '..')]);
      writeFileSync(file, keyClause({ name, algorithm: 'hmac-sha256', secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=' }));
    }
    const path = join(dir.path, 'named.conf');
    writeFileSync(path, conf.content);
    execFileSync('mkdir', ['-p', s.paths.workDir]);
    execFileSync('named-checkconf', [path], { encoding: 'utf8' });
    return conf.content;
  };

  it('by default: recursion for loopback only, no transfers, RRL, version hidden, updates only for _acme-challenge TXT', () => {
    const conf = check({});
    expect(conf).toContain('allow-recursion { 127.0.0.0/8; ::1; };');
    expect(conf).toContain('allow-query-cache { 127.0.0.0/8; ::1; };');
    expect(conf).toMatch(/allow-transfer \{ none; \};\n\s+notify no;/);
    expect(conf).toContain('rate-limit { responses-per-second 20; exempt-clients { 127.0.0.0/8; ::1; }; };');
    expect(conf).toContain('version none;');
    expect(conf).toContain('dnssec-policy default;');
    expect(conf.match(/grant "acme-update" name _acme-challenge\.[a-z.]+\. TXT;/g)).toEqual([
      'grant "acme-update" name _acme-challenge.example.test. TXT;',
      'grant "acme-update" name _acme-challenge.www.example.test. TXT;',
    ]);
    expect(conf).not.toMatch(/zonesub|subdomain|wildcard/);
  });

  it('with secondaries: transfers only from them and only signed with the transfer key; they are notified', () => {
    const conf = check({ DNS_SECONDARIES: '192.0.2.53, 2001:db8::53' });
    expect(conf).toContain('allow-transfer { !{ !{ 192.0.2.53; 2001:db8::53; }; any; }; key "transfer"; };');
    expect(conf).toContain('also-notify { 192.0.2.53 key "transfer"; 2001:db8::53 key "transfer"; };');
  });

  it('without recursion, with forwarders, without RRL, and DNSSEC turned off after signing (insecure)', () => {
    expect(check({ DNS_RECURSION_CLIENTS: 'none', DNS_RATE_LIMIT: '0' })).toMatch(/recursion no;/);
    expect(check({ DNS_FORWARDERS: '192.0.2.53#5353' })).toContain('forwarders { 192.0.2.53 port 5353; };');
    expect(check({ DNS_DNSSEC: 'false' }, true)).toContain('dnssec-policy insecure;');
    expect(check({ DNS_DNSSEC: 'false' }, false)).not.toContain('dnssec-policy');
  });
});

describe('TSIG keys', () => {
  it('are made once (0640) and kept on every start after; a file that is not a key is left alone', async () => {
    const { logger } = memoryLogger();
    const files = new RealFileOps(logger as never, false);
    const paths = { keyFile: join(dir.path, 'acme.key'), secretFile: join(dir.path, 'acme.secret') };
    const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const first = await ensureTsigKey(files, logger as never, paths, 'acme-update', owner);
    expect(Buffer.from(first.secret, 'base64')).toHaveLength(32);
    expect(statSync(paths.keyFile).mode & 0o777).toBe(0o640);
    expect(readFileSync(paths.secretFile, 'utf8')).toBe(`${first.secret}\n`);
    expect(parseKeyClause(readFileSync(paths.keyFile, 'utf8'), 'acme-update')).toEqual(first);
    const again = await ensureTsigKey(files, logger as never, paths, 'acme-update', owner);
    expect(again.secret).toBe(first.secret);
    writeFileSync(paths.keyFile, 'not a key\n');
    await expect(ensureTsigKey(files, logger as never, paths, 'acme-update', owner)).rejects.toThrow(
      /is not a BIND key clause for "acme-update".*left as it is/,
    );
    expect(readFileSync(paths.keyFile, 'utf8')).toBe('not a key\n');
  });
});

describe('the zone as named holds it', () => {
  it('gives the serial and the _acme-challenge records of named-compilezone’s output', () => {
    const text = [
      'example.test.\t300 IN SOA\tns1.example.test. hostmaster.example.test. 2026120204 3600 600 1209600 300',
      'example.test.\t300 IN NS\tns1.example.test.',
      '_acme-challenge.example.test.\t60 IN TXT\t"tok1"',
      '_acme-challenge.www.example.test.\t60 IN TXT\t"tok2"',
      'www.example.test.\t300 IN A\t192.0.2.1',
    ].join('\n');
    expect(parseCompiled(text)).toEqual({
      serial: 2026120204,
      dynamic: [
        '_acme-challenge.example.test.\t60 IN TXT\t"tok1"',
        '_acme-challenge.www.example.test.\t60 IN TXT\t"tok2"',
      ],
    });
  });

  it('reports the checker’s complaint as file:line: message', () => {
    expect(
      checkerMessage(
        "dns_rdata_fromtext: /x/db.example.test:15: near 'nope': bad dotted quad\nzone example.test/IN: loading from master file /x/db.example.test failed: bad dotted quad\nzone example.test/IN: not loaded due to errors.\n",
      ),
    ).toBe("/x/db.example.test:15: near 'nope': bad dotted quad");
  });
});
