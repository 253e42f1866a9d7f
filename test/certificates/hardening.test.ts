// What a careless user does to the certificates service (issue #8): bad values, a damaged
// volume, hand edits. Each case failed before its fix.
import { X509Certificate } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runService, sandboxPerTest, snapshot } from './helpers.js';

const box = sandboxPerTest();

const fingerprint = (certPath: string) => new X509Certificate(readFileSync(join(certPath, 'cert.pem'))).fingerprint256;
const generations = (certPath: string) => readdirSync(join(certPath, 'generations')).sort();
const messages = (records: Array<Record<string, unknown>>) => records.map((r) => String(r.msg));

describe('certificates: careless input', () => {
  it('a regular file given as CERT_PATH keeps its mode and content; the run fails naming it', async () => {
    const b = await box();
    const file = join(b.dir, 'k');
    writeFileSync(file, 'my key\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    const run = await runService({ ...b.env, CERT_PATH: file });
    expect(run.code).not.toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('my key\n');
    expect(run.output).toContain(`CERT_PATH ${file} cannot be prepared: ${file} exists but is not a directory`);
    expect(run.output).not.toMatch(/ENOTDIR.*\.lock/);
  });

  it('DOMAIN set but empty exits 78 naming DOMAIN, and the published certificate is unchanged', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const before = snapshot(b.certPath);
    const run = await runService({ ...b.env, DOMAIN: '' });
    expect(run.code).toBe(78);
    expect(run.output).toContain('DOMAIN: expected a value (DNS name), or the variable left unset');
    expect(run.output).toContain('found an empty value');
    expect(snapshot(b.certPath)).toEqual(before);
  });

  it('reports per-variable and cross-variable problems in one round (exit 78), touching nothing', async () => {
    const b = await box();
    const run = await runService({
      ...b.env,
      CERT_KEEP_GENERATIONS: '0',
      CERT_ISSUER: 'acme',
      CERT_SANS: '*.example.test',
      DOMAIN: `${'a'.repeat(70)}.test`,
    });
    expect(run.code).toBe(78);
    const fatal = run.records.find((r) => r.level === 'fatal');
    const text = String(fatal?.msg);
    expect(text).toMatch(/\(4 problems\)/);
    expect(text).toContain('CERT_KEEP_GENERATIONS: expected an integer from 1 to 100');
    expect(text).toMatch(/DOMAIN: .*label of 70 characters.*at most 63/);
    expect(text).toContain('LE_EMAIL is required with CERT_ISSUER=acme');
    expect(text).toContain('wildcard names (*.example.test) need ACME_CHALLENGE=dns-01');
    expect(snapshot(b.certPath)).toEqual(['<absent>']);
  });

  it('a TSIG secret that is not base64, or too short, is refused at once and never printed', async () => {
    const b = await box();
    for (const [secret, expected] of [
      ['supersecretvalue123', /ACME_TSIG_SECRET: expected a TSIG secret: base64/],
      ['abc', /ACME_TSIG_SECRET: expected a secret of at least 8 characters/],
    ] as const) {
      const run = await runService({ ...b.env, ACME_TSIG_SECRET: secret });
      expect(run.code).toBe(78);
      expect(run.output).toMatch(expected);
      expect(run.output).not.toContain(secret);
      const logFile = join(b.dir, 'logs', 'certificates', 'certificates.log');
      expect(() => readFileSync(logFile, 'utf8')).toThrow(); // a refused run writes no log file
      expect(snapshot(b.certPath)).toEqual(['<absent>']);
    }
  });

  it('dates in log records stay dates while a secret is configured', async () => {
    const b = await box({ ACME_TSIG_SECRET: 'c3VwZXJzZWNyZXR2YWx1ZTEyMw==' });
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    const published = run.records.find((r) => String(r.msg).startsWith('published certificate generation'));
    expect(published?.notAfter).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(run.output).not.toContain('"notAfter":{}');
  });

  it('warns when CERT_PATH had another mode, and when CERT_RENEW_BEFORE exceeds 3/4 of the lifetime', async () => {
    const b = await box({ CERT_RENEW_BEFORE: '80d' }); // of 90 days
    expect((await runService(b.env)).code).toBe(0);
    chmodSync(b.certPath, 0o700);
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    const warnings = messages(run.records.filter((r) => r.level === 'warn'));
    expect(warnings).toContain(`mode of ${b.certPath} was 0700; set to 0755, which the service needs`);
    expect(warnings.some((m) => m.startsWith('CERT_RENEW_BEFORE is longer than 3/4'))).toBe(true);
    expect(statSync(b.certPath).mode & 0o777).toBe(0o755);
  });

  it('a damaged local CA key is reported as ca/ca.key, moved aside and replaced', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    writeFileSync(join(b.certPath, 'ca', 'ca.key'), 'not a key\n');
    const run = await runService({ ...b.env, CERT_SANS: 'www.example.test' });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/local CA: ca\/ca\.key is not a valid private key/);
    expect(run.output).not.toMatch(/privkey\.pem is not a valid private key/);
  });
});

describe('certificates: generations on a hand-edited volume', () => {
  it('a stray file in generations/ takes no keep slot and is never deleted', async () => {
    const b = await box({ CERT_KEEP_GENERATIONS: '1' });
    expect((await runService(b.env)).code).toBe(0);
    writeFileSync(join(b.certPath, 'generations', 'README'), 'x\n');
    const first = await runService(b.env, ['--mode', 'renew']);
    expect(first.code, first.output).toBe(0);
    const previous = readlinkSync(join(b.certPath, 'current')).split('/')[1];
    const second = await runService(b.env, ['--mode', 'renew']);
    expect(second.code, second.output).toBe(0);
    const current = readlinkSync(join(b.certPath, 'current')).split('/')[1];
    // README, the previous generation (the one keep slot) and the current one.
    expect(generations(b.certPath)).toEqual(['README', previous, current].sort());
    expect(readFileSync(join(b.certPath, 'generations', 'README'), 'utf8')).toBe('x\n');
    const warned = first.records.find((r) => String(r.msg).startsWith('left alone in'));
    expect(warned?.level).toBe('warn');
    expect(warned?.entries).toEqual(['README']);
  });

  it('a deleted current link is re-linked to the same certificate, without issuing', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    const before = { fp: fingerprint(b.certPath), link: readlinkSync(join(b.certPath, 'current')) };
    rmSync(join(b.certPath, 'current'));
    const run = await runService(b.env);
    expect(run.code, run.output).toBe(0);
    expect({ fp: fingerprint(b.certPath), link: readlinkSync(join(b.certPath, 'current')) }).toEqual(before);
    expect(messages(run.records).some((m) => m.startsWith('issuing a certificate'))).toBe(false);
    expect(run.records.find((r) => String(r.msg).includes('was missing; re-linked'))?.level).toBe('warn');
  });

  it('a deleted current link whose newest generation no longer fits is not re-linked to it', async () => {
    const b = await box();
    expect((await runService(b.env)).code).toBe(0);
    rmSync(join(b.certPath, 'current'));
    const run = await runService({ ...b.env, CERT_SANS: 'www.example.test' });
    expect(run.code, run.output).toBe(0);
    expect(messages(run.records)).toContain('issuing a certificate: no certificate is published yet');
  });
});
