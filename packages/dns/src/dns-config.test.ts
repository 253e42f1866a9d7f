import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandRunner, envTypes, RealFileOps } from '@podserve/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { tempDir } from '../../../test/support/processes.js';
import { dnsEnv } from './config.js';
import { clientList, serverList } from './env-types.js';
import { ensureTsigKey, keyClause, parseKeyClause } from './keys.js';
import { renderNamedConf } from './named-conf.js';
import { parseRecord, splitRecords, type ZoneRecord, zoneRecords } from './records.js';
import { dnsSettings } from './settings.js';
import { renderZone } from './zone.js';
import { checkerMessage, ZoneStore } from './zone-store.js';

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

  it('splits DNS_RECORDS on ; and new lines, but not inside a quoted text', () => {
    expect(splitRecords('_dmarc TXT "v=DMARC1; p=reject"; www A 192.0.2.1\nx TXT "a \\" ; b"')).toEqual([
      '_dmarc TXT "v=DMARC1; p=reject"',
      'www A 192.0.2.1',
      'x TXT "a \\" ; b"',
    ]);
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
    const conf = renderNamedConf({
      settings: s,
      acmeNames: ['example.test', 'www.example.test'],
      wasSigned,
      controlKey: 'podserve-control',
    });
    for (const [file, name] of [
      [s.paths.updateKey, s.updateKeyName],
      [s.paths.transferKey, s.transferKeyName],
      [s.paths.dkimKey, s.dkimKeyName],
      [s.paths.rndcKey, 'rndc-key'],
      [s.paths.controlKey, 'podserve-control'],
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
    // RFC 8482: ANY over UDP gets one RRset, so the server is no amplifier.
    expect(conf).toContain('minimal-any yes;');
    expect(conf).toContain('dnssec-policy default;');
    // The mail service's key: DKIM records only.
    expect(conf).toContain('grant "dkim-update" wildcard *._domainkey.example.test. TXT;');
    expect(conf.match(/grant "acme-update" name _acme-challenge\.[a-z.]+\. TXT;/g)).toEqual([
      'grant "acme-update" name _acme-challenge.example.test. TXT;',
      'grant "acme-update" name _acme-challenge.www.example.test. TXT;',
    ]);
    // The update key: nothing wider. The control key (this container's only): the usual types, never NS.
    expect(conf).not.toMatch(/grant "acme-update" (?:zonesub|subdomain|wildcard)/);
    expect(conf).toContain('grant "podserve-control" zonesub A AAAA CNAME MX TXT SRV CAA;');
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

describe('the zone store', () => {
  const zone = (records: string) =>
    renderZone({
      zone: 'example.test',
      serial: 0,
      addresses: { v4: ['192.0.2.1'], v6: [] },
      records: records === '' ? [] : (envTypes.parseValue(zoneRecords(), records) as { value: ZoneRecord[] }).value,
      caaIssuer: 'letsencrypt.org',
      dmarc: 'v=DMARC1; p=none',
    });

  const store = () => {
    const { logger, records } = memoryLogger();
    const settings = dnsSettings({
      DOMAIN: 'example.test',
      DNS_STATE_DIR: dir.path,
      DNS_RUN_DIR: join(dir.path, 'run'),
      DNS_UPDATE_KEY_NAME: 'acme-update',
      DNS_TRANSFER_KEY_NAME: 'transfer',
      DNS_RECURSION_CLIENTS: [],
    } as never);
    mkdirSync(settings.paths.zonesDir, { recursive: true });
    mkdirSync(settings.paths.workDir, { recursive: true });
    const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const zoneStore = new ZoneStore(
      settings,
      new CommandRunner(logger as never, false),
      new RealFileOps(logger as never, false),
      owner,
      logger as never,
    );
    return { zoneStore, settings, records };
  };

  it('keeps what RFC 2136 added across a new render, drops what the configuration now sets, and raises the serial', async () => {
    const { zoneStore, settings, records } = store();
    const first = await zoneStore.install(zone('shop A 192.0.2.80'));
    expect(first).toMatchObject({ ok: true });
    const serial1 = (first as { serial: number }).serial;
    // What named's journal holds after three updates, folded into the file as named dumps it.
    writeFileSync(
      settings.paths.zoneFile,
      `${readFileSync(settings.paths.zoneFile, 'utf8').replace(`( ${serial1} `, `( ${serial1 + 3} `)}` +
        '_acme-challenge 60 IN TXT "token"\nextra 300 IN A 192.0.2.99\nblog 300 IN A 192.0.2.98\n',
    );
    writeFileSync(`${settings.paths.zoneFile}.jnl`, 'folded');
    expect((await zoneStore.dynamicNow()).map((r) => `${r.owner} ${r.type}`).sort()).toEqual([
      '_acme-challenge.example.test. TXT',
      'blog.example.test. A',
      'extra.example.test. A',
    ]);
    // The configuration now makes blog a CNAME and drops shop.
    const second = await zoneStore.install(zone('blog CNAME www'));
    expect(second).toMatchObject({ ok: true });
    expect((second as { serial: number }).serial).toBeGreaterThan(serial1 + 3);
    const text = readFileSync(settings.paths.zoneFile, 'utf8');
    expect(text).toMatch(/_acme-challenge\.example\.test\.\s.*TXT\s+"token"/);
    expect(text).toMatch(/extra\.example\.test\.\s.*A\s+192\.0\.2\.99/);
    expect(text).not.toContain('192.0.2.98'); // the configuration's CNAME wins
    expect(text).not.toContain('192.0.2.80'); // no longer configured, never dynamic
    expect(existsSync(`${settings.paths.zoneFile}.jnl`)).toBe(false);
    expect(records.some((r) => String(r.msg).includes('the configuration now sets blog.example.test. CNAME'))).toBe(
      true,
    );
    // Unchanged configuration, nothing added: the same dynamic records, and the serial still goes up.
    const third = await zoneStore.install(zone('blog CNAME www'));
    expect((third as { serial: number }).serial).toBeGreaterThan((second as { serial: number }).serial);
    expect((await zoneStore.dynamicNow()).map((r) => r.owner).sort()).toEqual([
      '_acme-challenge.example.test.',
      'extra.example.test.',
    ]);
  });

  it('sets an unreadable journal aside (never deletes it) and installs from the file', async () => {
    const { zoneStore, settings, records } = store();
    await zoneStore.install(zone(''));
    writeFileSync(`${settings.paths.zoneFile}.jnl`, 'not a journal');
    expect(await zoneStore.install(zone('new A 192.0.2.5'))).toMatchObject({ ok: true });
    const aside = readdirSync(settings.paths.zonesDir).filter((f) => f.includes('.jnl.unreadable-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(settings.paths.zonesDir, aside[0] as string), 'utf8')).toBe('not a journal');
    expect(records.some((r) => r.level === 50 && String(r.msg).includes('set aside'))).toBe(true);
  });

  it('refuses a merged zone named would not load, and leaves the installed one alone', async () => {
    const { zoneStore, settings } = store();
    await zoneStore.install(zone(''));
    const before = readFileSync(settings.paths.zoneFile, 'utf8');
    const outcome = await zoneStore.install(`${zone('')}bad IN A not-an-address\n`);
    expect(outcome).toMatchObject({ ok: false, message: expect.stringMatching(/bad dotted quad/) });
    expect(readFileSync(settings.paths.zoneFile, 'utf8')).toBe(before);
  });
});

describe('the checkers', () => {
  it('reports the checker’s complaint as file:line: message', () => {
    expect(
      checkerMessage(
        "dns_rdata_fromtext: /x/db.example.test:15: near 'nope': bad dotted quad\nzone example.test/IN: loading from master file /x/db.example.test failed: bad dotted quad\nzone example.test/IN: not loaded due to errors.\n",
      ),
    ).toBe("/x/db.example.test:15: near 'nope': bad dotted quad");
  });
});
