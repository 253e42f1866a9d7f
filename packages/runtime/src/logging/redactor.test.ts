import { openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { Redactor } from './redactor.js';

const secret = 'c3VwZXJzZWNyZXR2YWx1ZTEyMw==';

describe('Redactor.scrubDeep', () => {
  const redactor = new Redactor();
  redactor.add(secret);

  it('keeps Dates as Dates (they serialise as ISO strings, not {})', () => {
    const notAfter = new Date('2027-03-02T10:28:12.000Z');
    const out = redactor.scrubDeep({ notAfter, nested: { retryAt: notAfter }, list: [notAfter] });
    expect(out.notAfter).toBe(notAfter);
    expect(JSON.parse(JSON.stringify(out))).toEqual({
      notAfter: '2027-03-02T10:28:12.000Z',
      nested: { retryAt: '2027-03-02T10:28:12.000Z' },
      list: ['2027-03-02T10:28:12.000Z'],
    });
  });

  it('scrubs strings, nested objects, toJSON output and errors, keeping an error an error', () => {
    const err = Object.assign(new TypeError(`key ${secret} refused`), { stderr: `echo ${secret}` });
    const out = redactor.scrubDeep({
      msg: `with ${secret}`,
      deep: { deeper: { list: [secret] } },
      url: new URL(`https://example.test/?k=${encodeURIComponent('x')}&s=${secret}`),
      err,
    });
    expect(JSON.stringify(out)).not.toContain(secret);
    expect(out.err).toBeInstanceOf(TypeError);
    expect(out.err.message).toBe('key [REDACTED] refused');
    expect(out.err.stack).not.toContain(secret);
    expect((out.err as unknown as { stderr: string }).stderr).toBe('echo [REDACTED]');
    expect(err.message).toContain(secret); // the caller's object is not mutated
  });

  it('scrubs at any depth and through cycles, in what reaches the log stream', async () => {
    const records: string[] = [];
    const handle = await createLogger({
      service: 'svc',
      level: 'info',
      format: 'json',
      logDir: null,
      stdoutFd: openSync('/dev/null', 'w'),
      redactor,
      extraStream: { write: (line: string) => records.push(line) },
    });
    const deep: Record<string, unknown> = { a: { b: { c: { d: { e: { f: { g: secret } } } } } } };
    const cyclic: Record<string, unknown> = { name: 'loop', token2: secret, list: [secret] };
    cyclic.self = cyclic;
    (cyclic.list as unknown[]).push(cyclic);
    handle.logger.info({ deep, cyclic }, 'nested');
    expect(records).toHaveLength(1);
    expect(records[0]).not.toContain(secret);
    expect(JSON.parse(records[0] as string).deep.a.b.c.d.e.f.g).toBe('[REDACTED]');
    expect(records[0]).toContain('"self":"[Circular]"');
    // The caller's objects are untouched, cycle included.
    expect(cyclic.self).toBe(cyclic);
    expect(cyclic.token2).toBe(secret);
  });

  it('withholds a value nested past any real record rather than walking it unscrubbed', () => {
    let value: Record<string, unknown> = { s: secret };
    for (let i = 0; i < 2_000; i++) value = { n: value };
    expect(JSON.stringify(redactor.scrubDeep(value))).not.toContain(secret);
  });

  it('redacts secrets of any length it is given (the env loader refuses short ones)', () => {
    const r = new Redactor();
    r.add('abc');
    expect(r.scrub('xabcx')).toBe('x[REDACTED]x');
  });
});

describe('Redactor.remove', () => {
  it('takes back one add: a secret held twice stays until both let go', () => {
    const r = new Redactor();
    r.add('a-shared-secret');
    r.add('a-shared-secret');
    r.remove('a-shared-secret');
    expect(r.scrub('x a-shared-secret')).toBe('x [REDACTED]');
    r.remove('a-shared-secret');
    expect(r.scrub('x a-shared-secret')).toBe('x a-shared-secret');
    expect(r.size).toBe(0);
    r.remove('never-added');
    expect(r.size).toBe(0);
  });
});
