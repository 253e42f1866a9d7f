import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envTypes } from '@podserve/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/processes.js';
import { dnsEnv } from './config.js';
import { parseRecord, type ZoneRecord, zoneRecords } from './records.js';
import { nextSerial, renderZone } from './zone.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('podserve-zone-');
});
afterEach(() => dir.cleanup());

describe('DNS_RECORDS', () => {
  it('parses every supported type, relative and absolute names, TTLs and quoted texts', () => {
    const parsed = envTypes.parseValue(
      zoneRecords(),
      'www2 A 192.0.2.10; api 600 CNAME www; @ TXT "v=verify \\"x\\""\n_sip._tcp SRV 10 5 5060 sip.example.net.; v6 AAAA 2001:db8::1; @ MX 20 backup; @ CAA 0 issuewild "letsencrypt.org"; sub NS ns.other.test.',
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.map((r) => `${r.name} ${r.ttl ?? '-'} ${r.type} ${r.data}`)).toEqual([
      'www2 - A 192.0.2.10',
      'api 600 CNAME www',
      '@ - TXT "v=verify \\"x\\""',
      '_sip._tcp - SRV 10 5 5060 sip.example.net.',
      'v6 - AAAA 2001:db8::1',
      '@ - MX 20 backup',
      '@ - CAA 0 issuewild "letsencrypt.org"',
      'sub - NS ns.other.test.',
    ]);
  });

  it.each([
    ['www A 300.1.1.1', /"300\.1\.1\.1" is not an IPv4 address/],
    ['www AAAA 192.0.2.1', /is not an IPv6 address/],
    ['www TXTX hi', /type "TXTX" is not one of A, AAAA/],
    ['@ CNAME www', /the zone itself \(@\) cannot be a CNAME/],
    ['www MX mail', /MX needs a preference and a mail server/],
    ['bad_name! A 192.0.2.1', /"bad_name!" is not a name in the zone/],
    ['www 5 A 192.0.2.1', /TTL 5 is outside 30 to 604800/],
    ['www TXT "open', /a quoted text is not closed/],
    ['www CAA 0 issue', /CAA needs flags, tag and value/],
    ['note TXT "line one\nline two"', /it has a new line: a record is one line/],
    ['note TXT "a\rb"', /it has a carriage return/],
    ['note TXT "a\u0000b"', /it has the control character U\+0000/],
  ])('refuses %j, saying why', (record, why) => {
    expect(parseRecord(record)).toMatch(why);
  });

  it('names the record that is wrong, by number and text, in the env error', () => {
    const parsed = envTypes.parseValue(zoneRecords(), 'ok A 192.0.2.1; broken A nope; also A 192.0.2.2');
    expect(parsed).toMatchObject({
      ok: false,
      message: expect.stringMatching(/record 2, "broken A nope": "nope" is not an IPv4 address/),
    });
  });
});

describe('DNS_RECORDS beside the records the service makes', () => {
  const problem = (text: string) => {
    const parsed = envTypes.parseValue(zoneRecords(), text);
    return parsed.ok ? undefined : parsed.message;
  };

  it.each(['www', 'mail', 'ns1', '_dmarc'])(
    'refuses a CNAME at %s, where the service renders records itself',
    (name) => {
      expect(problem(`blog A 192.0.2.1; ${name} CNAME elsewhere.test.`)).toMatch(
        new RegExp(`record 2, "${name} CNAME elsewhere\\.test\\.": ${name} has records the service makes itself`),
      );
    },
  );

  it('refuses a CNAME beside other data in DNS_RECORDS, naming both records', () => {
    expect(problem('blog TXT "hello"; blog CNAME www')).toMatch(
      /^a CNAME alone at its name, with no other record there; record 2, "blog CNAME www", shares blog with record 1, "blog TXT "hello""$/,
    );
    expect(problem('blog CNAME www; blog CNAME mail')).toMatch(/record 1, "blog CNAME www", shares blog with record 2/);
  });

  it('shows a new line inside a quoted text as \\n, on the message’s one line', () => {
    const message = problem('ok A 192.0.2.1; note TXT "line one\nline two"') ?? '';
    expect(message).toContain('record 2, "note TXT "line one\\nline two"": it has a new line');
    expect(message).not.toContain('\n');
  });

  it('takes a CNAME at a name the service has no records at (a DKIM selector delegated to a provider)', () => {
    expect(problem('mail._domainkey CNAME mail.dkim.provider.test.; blog CNAME www')).toBeUndefined();
  });
});

describe('DNS_DMARC', () => {
  const parse = (raw: string) => envTypes.parseValue(dnsEnv.DNS_DMARC, raw);
  it('is one line of text: a new line, a quote or a backslash is refused', () => {
    expect(parse('v=DMARC1; p=reject; rua=mailto:dmarc@example.test')).toMatchObject({ ok: true });
    for (const bad of ['v=DMARC1; p=reject;\nrua=mailto:x@example.test', 'v=DMARC1; p="reject"', 'v=DMARC1; p=\\']) {
      expect(parse(bad)).toMatchObject({ ok: false, message: expect.stringMatching(/on one line, without quotes/) });
    }
  });
});

describe('the zone file', () => {
  const records = (text: string) => {
    const parsed = envTypes.parseValue(zoneRecords(), text);
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.value as ZoneRecord[];
  };

  it('is accepted by named-checkzone, with the defaults, DNS_RECORDS, a long DKIM text, and an override', () => {
    const dkim = `"v=DKIM1; k=rsa; p=${'A'.repeat(400)}"`;
    const zone = renderZone({
      zone: 'example.test',
      serial: 2026120201,
      addresses: { v4: ['192.0.2.1'], v6: ['2001:db8::1'] },
      records: records('www A 192.0.2.80; api CNAME www; _sip._tcp SRV 10 5 5060 sip'),
      caaIssuer: 'letsencrypt.org',
      dmarc: 'v=DMARC1; p=quarantine',
      dkim: {
        selector: 'mail',
        txt: parseRecord(`x TXT ${dkim}`) instanceof Object ? (parseRecord(`x TXT ${dkim}`) as ZoneRecord).data : '',
      },
    });
    const file = join(dir.path, 'db.example.test');
    writeFileSync(file, zone);
    const out = execFileSync('named-checkzone', ['-i', 'local', 'example.test', file], { encoding: 'utf8' });
    expect(out).toMatch(/loaded serial 2026120201/);
    expect(out.trim().split('\n').at(-1)).toBe('OK');
    // DNS_RECORDS' www A replaces the default one instead of adding a second address.
    expect(zone.match(/^www\s.*\sA\s.*$/gm)).toEqual([expect.stringContaining('192.0.2.80')]);
    const printed = execFileSync('named-checkzone', ['-D', '-q', '-o', '-', 'example.test', file], {
      encoding: 'utf8',
    });
    expect(printed).toMatch(/^mail\._domainkey\.example\.test\.\s+\d+\s+IN\s+TXT\s+"v=DKIM1; k=rsa; p=A+" "A+"$/m);
    expect(printed).toMatch(/^example\.test\.\s+\d+\s+IN\s+MX\s+10 mail\.example\.test\.$/m);
  });
});

describe('the zone file’s texts and aliases', () => {
  it('splits a DMARC policy longer than 255 bytes, and a DKIM selector CNAME in DNS_RECORDS takes the place of the key', () => {
    const records = envTypes.parseValue(zoneRecords(), 'mail._domainkey CNAME mail.dkim.provider.test.');
    if (!records.ok) throw new Error(records.message);
    const dmarc = `v=DMARC1; p=reject; rua=${Array.from({ length: 12 }, (_, i) => `mailto:dmarc-${i}@reports.example.test`).join(',')}`;
    expect(dmarc.length).toBeGreaterThan(255);
    const zone = renderZone({
      zone: 'example.test',
      serial: 1,
      addresses: { v4: ['192.0.2.1'], v6: [] },
      records: records.value,
      caaIssuer: 'letsencrypt.org',
      dmarc,
      dkim: { selector: 'mail', txt: '"v=DKIM1; k=rsa; p=AAAA"' },
    });
    const file = join(dir.path, 'db.example.test');
    writeFileSync(file, zone);
    const printed = execFileSync('named-checkzone', ['-D', '-q', '-o', '-', 'example.test', file], {
      encoding: 'utf8',
    });
    expect(printed).toMatch(/^_dmarc\.example\.test\.\s+\d+\s+IN\s+TXT\s+"v=DMARC1; p=reject; [^"]+" "[^"]+"$/m);
    expect(printed).toMatch(/^mail\._domainkey\.example\.test\.\s+\d+\s+IN\s+CNAME\s+mail\.dkim\.provider\.test\.$/m);
    expect(printed).not.toMatch(/v=DKIM1/);
  });
});

describe('nextSerial', () => {
  it('uses the date when ahead, and always increases otherwise', () => {
    const day = new Date('2026-12-02T10:00:00Z');
    expect(nextSerial(undefined, day)).toBe(2026120200);
    expect(nextSerial(2026120200, day)).toBe(2026120201);
    expect(nextSerial(2026120299, day)).toBe(2026120300); // past 99 changes a day: still up
    expect(nextSerial(2026113005, day)).toBe(2026120200);
    expect(nextSerial(2030010100, day)).toBe(2030010101); // a clock gone back never lowers it
  });
});
