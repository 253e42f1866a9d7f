import { join } from 'node:path';
import type { ProcessSpec } from '@podserve/runtime';
import type { MailSettings } from './settings.js';

/**
 * The address every probe of ours connects from: postfix and dovecot name it in their lines,
 * so the runtime logs those at debug and real clients' at info.
 */
export const PROBE_ADDRESS = '127.0.0.2';
const PROBE_LINES = /\[127\.0\.0\.2\]|rip=127\.0\.0\.2\b|lmtp\(\d+\): Info: (?:Connect|Disconnect) from local/;

/** The three daemons, as data: what `--dry-run`, status and the control socket show. */
export function mailProcesses(s: MailSettings): ProcessSpec[] {
  const current = (root: string, file?: string) => join(root, 'current', ...(file ? [file] : []));
  return [
    {
      name: 'opendkim',
      command: '/usr/sbin/opendkim',
      // -f: foreground; it drops to UserID itself once the milter socket is bound.
      args: ['-f', '-x', current(s.paths.opendkimConf, 'opendkim.conf')],
      restart: 'always',
      readiness: { tcp: { port: s.ports.milter }, intervalMs: 100 },
      // opendkim takes 5 s to end on SIGTERM (measured: it waits out its worker threads) and
      // holds no state; postfix, its only client, has stopped before it (reverse start order).
      stop: { signal: 'SIGKILL' },
    },
    {
      name: 'dovecot',
      command: '/usr/sbin/dovecot',
      args: ['-F', '-c', current(s.paths.dovecotConf, 'dovecot.conf')],
      restart: 'always',
      // dovecot sends READY=1 once its listeners are up; after that, IMAP must keep answering.
      readiness: { notify: true },
      health: { tcp: { port: s.ports.imap, from: PROBE_ADDRESS } },
      quietLines: PROBE_LINES,
      reload: { signal: 'SIGHUP' },
      stopTimeoutMs: 8_000,
    },
    {
      name: 'postfix',
      // The master itself, in the foreground (`postfix start-fg` is a shell script that would
      // stand between the supervisor and master unless it runs as PID 1). -s: log to stderr.
      command: '/usr/lib/postfix/sbin/master',
      args: ['-c', current(s.paths.postfixConf), '-s'],
      restart: 'always',
      readiness: { tcp: { port: s.ports.smtp, from: PROBE_ADDRESS }, intervalMs: 100 },
      quietLines: PROBE_LINES,
      // SIGHUP: master re-reads main.cf and master.cf and restarts its services gracefully.
      reload: { signal: 'SIGHUP' },
      // SIGTERM: master stops its services and exits; the queue on the volume is kept.
      stopTimeoutMs: 8_000,
      // LMTP and SASL go to dovecot's sockets: postfix starts once they exist.
      dependsOn: ['dovecot', 'opendkim'],
    },
  ];
}
