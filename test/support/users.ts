import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TempUser {
  name: string;
  uid: number;
  gid: number;
  /** A supplementary group the user is a member of. */
  extraGroup: string;
  extraGid: number;
  remove(): void;
}

/** useradd/groupadd lock /etc/passwd; test files run in parallel, so a busy lock is retried. */
function retrying(cmd: string, args: string[]): void {
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync(cmd, args, { stdio: 'pipe' });
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      execFileSync('sleep', ['0.2']);
    }
  }
}

/** A throwaway user (own primary group) in one extra group; root only. Removed by remove(). */
export function createTempUser(): TempUser {
  const suffix = randomBytes(3).toString('hex');
  const name = `podserve-t${suffix}`;
  const extraGroup = `podserve-x${suffix}`;
  retrying('groupadd', [extraGroup]);
  retrying('useradd', [
    '--no-create-home',
    '--user-group',
    '--groups',
    extraGroup,
    '--shell',
    '/usr/sbin/nologin',
    name,
  ]);
  const field = (db: string, key: string, i: number) =>
    Number(execFileSync('getent', [db, key], { encoding: 'utf8' }).trim().split(':')[i]);
  return {
    name,
    uid: field('passwd', name, 2),
    gid: field('passwd', name, 3),
    extraGroup,
    extraGid: field('group', extraGroup, 2),
    remove() {
      for (const [cmd, arg] of [
        ['userdel', name],
        ['groupdel', name],
        ['groupdel', extraGroup],
      ] as const) {
        try {
          retrying(cmd, [arg]);
        } catch {
          // Already gone (userdel removes the user's own group).
        }
      }
    },
  };
}
