import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FailureLimiter } from './failure-limiter.js';
import {
  allows,
  authenticate,
  newToken,
  parseTokens,
  readTokens,
  refuseDevelopmentTokens,
  tokenLine,
} from './tokens.js';

const repo = join(import.meta.dirname, '..', '..', '..');

describe('API tokens', () => {
  it('match by hash only, each entry compared, and scopes nest (admin may read)', () => {
    const admin = newToken();
    const reader = newToken();
    expect(admin).toMatch(/^podserve_[A-Za-z0-9_-]{43}$/);
    const text = `# comment\n${tokenLine('admin', 'admin', admin)}\n\n${tokenLine('ci', 'read', reader)}  # the CI job\n`;
    expect(text).not.toContain(admin);
    const entries = parseTokens(text, '/s/tokens');
    expect(entries.map((e) => [e.name, e.scope])).toEqual([
      ['admin', 'admin'],
      ['ci', 'read'],
    ]);
    expect(authenticate(entries, admin)?.name).toBe('admin');
    expect(authenticate(entries, reader)?.name).toBe('ci');
    expect(authenticate(entries, `${admin}x`)).toBeUndefined();
    expect(authenticate(entries, '')).toBeUndefined();
    expect([allows('admin', 'read'), allows('read', 'read'), allows('read', 'admin')]).toEqual([true, true, false]);
  });

  it('refuse a bad file with the file, the line and what was expected, never a value that may be a token', () => {
    const token = newToken();
    const cases: Array<[string, RegExp]> = [
      [`admin admin ${token}`, /line 1: the third field must be sha256: .*its value is not shown/],
      ['admin admin', /line 1: expected NAME SCOPE sha256:HEX \(three fields\); found 2/],
      [`admin root sha256:${'a'.repeat(64)}`, /line 1: the scope must be read or admin; found "root"/],
      [`Admin read sha256:${'a'.repeat(64)}`, /line 1: the name must be lower-case/],
      [`a read sha256:${'a'.repeat(64)}\na admin sha256:${'b'.repeat(64)}`, /line 2: the name "a" is used twice/],
      ['# nothing\n', /holds no token: nobody could call the API/],
    ];
    for (const [text, expected] of cases) {
      expect(() => parseTokens(text, '/s/tokens')).toThrow(expected);
      try {
        parseTokens(text, '/s/tokens');
      } catch (err) {
        expect((err as Error).message).toMatch(/^API_TOKENS_FILE \(\/s\/tokens\)/);
        expect((err as Error).message).not.toContain(token);
      }
    }
  });
});

describe('the token file as the pod mounts it', () => {
  it('reads it base64-encoded (podman 4.3 mounts Secrets so), and refuses the development tokens in production', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podserve-tokens-'));
    try {
      const devAdmin = readFileSync(join(repo, 'dev', 'api-admin.token'), 'utf8').trim();
      const lines = `${tokenLine('admin', 'admin', devAdmin)}\n${tokenLine('ci', 'read', newToken())}\n`;
      writeFileSync(join(dir, 'plain'), lines);
      writeFileSync(join(dir, 'encoded'), Buffer.from(lines).toString('base64'));
      const plain = await readTokens(join(dir, 'plain'));
      const encoded = await readTokens(join(dir, 'encoded'));
      expect(plain.decoded).toBe(false);
      expect(encoded.decoded).toBe(true);
      expect(encoded.entries).toEqual(plain.entries);
      // pod.yaml's development Secret: the repository's dev tokens, so refused in production.
      expect(() => refuseDevelopmentTokens(plain.entries, 'f')).toThrow(
        /API_TOKENS_FILE \(f\) holds the development token\(s\) "admin", which everyone .* knows/,
      );
      expect(() => refuseDevelopmentTokens(plain.entries.slice(1), 'f')).not.toThrow();
      await expect(readTokens(join(dir, 'missing'))).rejects.toThrow(
        /API_TOKENS_FILE \(.*missing\) cannot be read \(ENOENT\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('FailureLimiter', () => {
  it('refuses an address after the limit until its window ends, and remembers a bounded number of addresses', () => {
    let now = 0;
    const limiter = new FailureLimiter(3, 60_000, 2, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfter('a')).toBe(0);
      limiter.fail('a');
    }
    expect(limiter.retryAfter('a')).toBe(60);
    now = 30_500;
    expect(limiter.retryAfter('a')).toBe(30);
    expect(limiter.retryAfter('b')).toBe(0);
    now = 60_000;
    expect(limiter.retryAfter('a')).toBe(0);
    for (const address of ['x', 'y', 'z']) limiter.fail(address);
    expect(limiter.size).toBeLessThanOrEqual(2);
  });
});
