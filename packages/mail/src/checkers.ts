import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult, CommandRunner } from '@podserve/runtime';

/**
 * postfix starts on almost any main.cf (an unknown key is a warning, a missing TLS key only
 * fails the first TLS session), so every warning postconf prints about our files is an error.
 */
export function checkPostfix(commands: CommandRunner, dir: string): Promise<CheckResult> {
  return firstComplaint(commands, [
    ['postconf', '-c', dir, '-n'],
    ['postconf', '-c', dir, '-M'],
  ]);
}

/** `postfix check`: the queue's directories made on a fresh volume, owners and modes right. */
export function checkPostfixInstallation(commands: CommandRunner, dir: string): Promise<CheckResult> {
  return firstComplaint(commands, [['postfix', '-c', dir, 'check']]);
}

async function firstComplaint(commands: CommandRunner, argvs: string[][]): Promise<CheckResult> {
  for (const argv of argvs) {
    const result = await commands.run(argv, { reject: false, timeoutMs: 30_000 });
    const complaint = result.stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /\b(warning|fatal|error):/i.test(l));
    if (result.exitCode !== 0 || complaint) {
      const what = (complaint ?? result.stderr.trim().split('\n')[0]) || `exit ${result.exitCode}`;
      return {
        ok: false,
        message: `${argv.slice(0, 1).concat(argv.slice(3)).join(' ')}: ${what.replace(/^postconf: |^postfix: /, '')}`,
      };
    }
  }
  return { ok: true };
}

/** `doveconf -n`: dovecot 2.4's own parser; its complaint names the file and line. */
export async function checkDovecot(commands: CommandRunner, dir: string): Promise<CheckResult> {
  const file = join(dir, 'dovecot.conf');
  const result = await commands.run(['doveconf', '-c', file, '-n'], { reject: false, timeoutMs: 30_000 });
  if (result.exitCode === 0) return { ok: true };
  const line = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return { ok: false, message: (line ?? `doveconf exited ${result.exitCode}`).replace(/^doveconf: (Fatal: )?/, '') };
}

/**
 * `opendkim -n`: parses the configuration and exits. It opens the KeyFile too, which a dry run
 * never made: then the checker reads a copy that names a stand-in key in the scratch directory.
 */
export async function checkOpendkim(commands: CommandRunner, dir: string, dryRun = false): Promise<CheckResult> {
  let file = join(dir, 'opendkim.conf');
  if (dryRun) {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(join(dir, 'stand-in.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    // The scratch directory is under /tmp, which opendkim calls unsafe for a key: it is a stand-in.
    const copy = readFileSync(file, 'utf8').replace(
      /^KeyFile\s+.*$/m,
      `KeyFile ${join(dir, 'stand-in.pem')}\nRequireSafeKeys false`,
    );
    file = join(dir, 'opendkim.dry-run.conf');
    writeFileSync(file, copy);
  }
  const result = await commands.run(['opendkim', '-n', '-x', file], {
    reject: false,
    timeoutMs: 30_000,
  });
  if (result.exitCode === 0) return { ok: true };
  return { ok: false, message: (result.stderr.trim().split('\n')[0] ?? '') || `opendkim -n exited ${result.exitCode}` };
}
