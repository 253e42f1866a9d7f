import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/support/processes.js';
import { defineEnv, formatProblems, loadEnv, MIN_SECRET_LENGTH } from './env.js';
import { envMarkdown } from './env-docs.js';
import {
  absolutePath,
  base64,
  boolean,
  duration,
  email,
  hostname,
  hostnameList,
  oneOf,
  parseValue,
  port,
  url,
} from './env-types.js';

const spec = defineEnv({
  DOMAIN: { ...hostname(), devDefault: 'example.test', description: 'Primary name.' },
  SANS: { ...hostnameList({ wildcards: true }), default: '', description: 'More names.' },
  PORT: { ...port(), default: '80', description: 'Port.' },
  MODE: { ...oneOf(['a', 'b'] as const), default: 'a', description: 'Mode.' },
  EMAIL: { ...email(), optional: true, description: 'Mail.' },
  DIR: { ...absolutePath(), default: '/data', description: 'Dir.' },
  VERBOSE: { ...boolean(), default: 'false', description: 'Verbose.' },
  RENEW: { ...duration(), default: '30d', description: 'Renew before.' },
  URL: { ...url(), default: 'https://acme.example/dir', description: 'Directory.' },
  PASSWORD: { ...hostname(), optional: true, secret: true, description: 'A secret.' },
});

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

describe('loadEnv', () => {
  it('parses values, applies defaults and development defaults', () => {
    const result = loadEnv(
      spec,
      { SANS: 'www.example.test, *.Example.Test.', VERBOSE: 'YES', PORT: '8443' },
      'development',
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.values).toMatchObject({
      DOMAIN: 'example.test',
      SANS: ['www.example.test', '*.example.test'],
      PORT: 8443,
      VERBOSE: true,
      RENEW: 30 * 86_400_000,
      EMAIL: undefined,
    });
    expect(result.sources.DOMAIN).toBe('dev-default');
    expect(result.sources.PORT).toBe('env');
  });

  it('lists every bad variable at once with what was expected and what was found', () => {
    const result = loadEnv(
      spec,
      {
        DOMAIN: 'bad domain!',
        PORT: 'eighty',
        MODE: 'c',
        EMAIL: 'nobody',
        DIR: 'relative',
        URL: 'ftp://x',
        RENEW: '3 weeks',
      },
      'development',
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byVar = Object.fromEntries(result.problems.map((p) => [p.variable, p]));
    expect(Object.keys(byVar).sort()).toEqual(['DIR', 'DOMAIN', 'EMAIL', 'MODE', 'PORT', 'RENEW', 'URL']);
    expect(byVar.DOMAIN).toMatchObject({ found: '"bad domain!"', expected: expect.stringMatching(/DNS name/) });
    expect(byVar.PORT).toMatchObject({ found: '"eighty"', expected: 'an integer from 1 to 65535' });
    expect(byVar.MODE?.expected).toBe('one of a, b');
    const text = formatProblems('svc', result.problems);
    expect(text).toMatch(/^invalid configuration for svc \(7 problems\); nothing was changed:/);
    expect(text).toContain('  - PORT: expected an integer from 1 to 65535; found "eighty"');
  });

  it('requires development-default variables in production', () => {
    const result = loadEnv(spec, {}, 'production');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      {
        variable: 'DOMAIN',
        found: undefined,
        expected: expect.stringContaining('required when PODSERVE_ENV=production'),
      },
    ]);
  });

  it('reads NAME_FILE, strips one trailing newline, and keeps the secret out of problems', () => {
    const secretFile = join(dir.path, 'password');
    writeFileSync(secretFile, 'not a hostname!\n');
    const result = loadEnv(spec, { PASSWORD_FILE: secretFile }, 'development');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([{ variable: 'PASSWORD_FILE', found: '[REDACTED]', expected: expect.any(String) }]);

    writeFileSync(secretFile, 'correct-horse\n');
    const good = loadEnv(spec, { PASSWORD_FILE: secretFile }, 'development');
    expect(good.ok && good.values.PASSWORD).toBe('correct-horse');
    expect(good.ok && good.secrets).toEqual(['correct-horse']);
  });

  it('refuses NAME and NAME_FILE together, and an unreadable NAME_FILE', () => {
    const both = loadEnv(spec, { PASSWORD: 'x.example', PASSWORD_FILE: '/etc/hostname' }, 'development');
    expect(!both.ok && both.problems[0]?.expected).toBe('either PASSWORD or PASSWORD_FILE, not both');
    const missing = loadEnv(spec, { PASSWORD_FILE: join(dir.path, 'nope') }, 'development');
    expect(!missing.ok && missing.problems[0]).toMatchObject({
      variable: 'PASSWORD_FILE',
      found: expect.stringContaining('ENOENT'),
    });
  });

  it('refuses a variable that is set but empty, naming it, unless it is optional (then empty means unset)', () => {
    const result = loadEnv(spec, { PORT: '', DOMAIN: '', EMAIL: '' }, 'development');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      {
        variable: 'DOMAIN',
        found: 'an empty value',
        expected: 'a value (DNS name), or the variable left unset (development default "example.test")',
      },
      {
        variable: 'PORT',
        found: 'an empty value',
        expected: 'a value (port), or the variable left unset (default "80")',
      },
    ]);
    const optional = loadEnv(spec, { EMAIL: '' }, 'development');
    expect(optional.ok && optional.values.EMAIL).toBeUndefined();
    const file = loadEnv(spec, { DOMAIN_FILE: '' }, 'development');
    expect(!file.ok && file.problems[0]?.variable).toBe('DOMAIN_FILE');
  });

  it(`refuses a secret shorter than ${MIN_SECRET_LENGTH} characters without showing it`, () => {
    const result = loadEnv(spec, { PASSWORD: 'abc' }, 'development');
    expect(!result.ok && result.problems).toEqual([
      { variable: 'PASSWORD', expected: 'a secret of at least 8 characters', found: '3 character(s) [REDACTED]' },
    ]);
    expect(JSON.stringify(!result.ok && result.problems)).not.toContain('abc');
    // Not handed to the redactor either: it would shred the message that reports it.
    expect(!result.ok && result.secrets).toEqual([]);
  });

  it('checks base64 strictly: alphabet, padding and decoded length', () => {
    const tsig = base64({ minBytes: 16, what: 'a TSIG secret' });
    const good = Buffer.alloc(32, 7).toString('base64');
    expect(parseValue(tsig, good)).toEqual({ ok: true, value: good });
    for (const bad of ['supersecretvalue123', 'c2hvcnQ=', `${good.slice(0, -1)}`, `${good}==`, 'a*b=']) {
      expect(parseValue(tsig, bad), bad).toMatchObject({
        ok: false,
        message: expect.stringMatching(/at least 16 bytes/),
      });
    }
  });

  it('refuses paths that would break out of a daemon config: quotes, spaces, control characters', () => {
    expect(parseValue(absolutePath(), '/data/www')).toEqual({ ok: true, value: '/data/www' });
    for (const bad of ['/a"b', "/a'b", '/a b', '/a\nLoadModule x', '/a\\b', '/a$b', '/a\u0007b']) {
      expect(parseValue(absolutePath(), bad), JSON.stringify(bad)).toMatchObject({
        ok: false,
        message: expect.stringMatching(/without spaces, quotes/),
      });
    }
  });

  it('names the DNS length limits when a name breaks them', () => {
    const long = `${'a'.repeat(60)}.`.repeat(5).slice(0, -1); // 304 characters
    expect(parseValue(hostname(), long)).toMatchObject({
      message: expect.stringMatching(/has 304 characters \(at most 253\)/),
    });
    expect(parseValue(hostname(), `${'b'.repeat(64)}.test`)).toMatchObject({
      message: expect.stringMatching(/label of 64 characters.*at most 63/),
    });
    expect(parseValue(hostnameList({ wildcards: true }), 'ok.test, a..b.test')).toMatchObject({
      message: expect.stringMatching(/"a\.\.b\.test" has an empty label/),
    });
  });

  it('generates the reference table from the same declaration', () => {
    const md = envMarkdown(spec);
    expect(md).toContain(
      '| `DOMAIN` | DNS name | `example.test` (development only; required in production) | Primary name. |',
    );
    expect(md).toContain('`PASSWORD_FILE` reads it from a file');
  });
});
