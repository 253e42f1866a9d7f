import { readFileSync } from 'node:fs';
import { type NotifyListener, requireReaper } from '@podserve/reaper';
import type { Logger } from '../logging/logger.js';

export interface NotifyEvents {
  ready(): void;
  status(text: string): void;
  watchdog(): void;
}

let counter = 0;

/**
 * The sd_notify socket of one process instance (named and dovecot announce readiness this
 * way): an abstract AF_UNIX datagram socket, so nothing lands on disk and nothing is left
 * behind, named in the child's NOTIFY_SOCKET. Only messages from the child's own process
 * group count (systemd's NotifyAccess=all), so another local process cannot fake READY=1.
 */
export class NotifyChannel {
  // Abstract names live in the network namespace, which a pod's containers share, and every
  // runtime there is pid 1: a random part keeps two containers' sockets apart (not a secret:
  // senders are checked by process group; node:crypto would cost exec's PID 1 ~3 MB).
  readonly address = `@podserve/${process.pid}/${Math.random().toString(36).slice(2, 10)}/${++counter}`;
  private listener: NotifyListener | null = null;
  private pgid: number | null = null;
  private warnedForeign = false;

  constructor(
    private readonly log: Logger,
    private readonly events: NotifyEvents,
  ) {}

  open(): void {
    this.listener = requireReaper().listenNotify(this.address, (message, sender) => this.receive(message, sender));
  }

  /** The spawned child's pid (its process group): messages from elsewhere are dropped. */
  attach(pid: number): void {
    this.pgid = pid;
  }

  close(): void {
    this.listener?.close();
    this.listener = null;
  }

  private receive(message: string, sender: number | null): void {
    if (this.pgid === null || sender === null || (sender !== this.pgid && processGroupOf(sender) !== this.pgid)) {
      if (!this.warnedForeign)
        this.log.warn(
          { sender, message: message.slice(0, 200) },
          'sd_notify message from outside the process group ignored',
        );
      this.warnedForeign = true;
      return;
    }
    for (const line of message.split('\n')) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      this.log.debug({ key, value }, `sd_notify ${key}=${value}`);
      if (key === 'READY' && value === '1') this.events.ready();
      else if (key === 'STATUS') this.events.status(value);
      else if (key === 'WATCHDOG' && value === '1') this.events.watchdog();
      else if (key === 'STOPPING' && value === '1')
        this.log.info('the daemon says it is stopping (sd_notify STOPPING=1)');
      else if (key === 'RELOADING' && value === '1')
        this.log.info('the daemon says it is reloading (sd_notify RELOADING=1)');
    }
  }
}

/** Field 5 of /proc/<pid>/stat, counted after the command name (which may hold spaces). */
function processGroupOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}
