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

/** `opendkim -n`: parses the configuration and exits. */
export async function checkOpendkim(commands: CommandRunner, dir: string): Promise<CheckResult> {
  const result = await commands.run(['opendkim', '-n', '-x', join(dir, 'opendkim.conf')], {
    reject: false,
    timeoutMs: 30_000,
  });
  if (result.exitCode === 0) return { ok: true };
  return { ok: false, message: (result.stderr.trim().split('\n')[0] ?? '') || `opendkim -n exited ${result.exitCode}` };
}
