import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NotifyListener, requireReaper } from '@podserve/reaper';
import type { Logger } from '../logging/logger.js';

export interface NotifyEvents {
  ready(): void;
  status(text: string): void;
  watchdog(): void;
}

/**
 * The sd_notify socket of one process instance (named and dovecot announce readiness this
 * way): an AF_UNIX datagram socket in a directory of its own (removed on close), named in
 * the child's NOTIFY_SOCKET. A file path and not an abstract name: BIND 9.20 writes its own
 * sd_notify and cannot reach an abstract socket (measured: "connection refused"). Daemons
 * connect while still root, before they drop privileges. Only messages from the child's own
 * process group count (systemd's NotifyAccess=all), so another local process cannot fake READY=1.
 */
export class NotifyChannel {
  private dir: string | null = null;
  private listener: NotifyListener | null = null;
  private pgid: number | null = null;
  private warnedForeign = false;

  constructor(
    private readonly log: Logger,
    private readonly events: NotifyEvents,
  ) {}

  /** NOTIFY_SOCKET's value, once open. */
  get address(): string {
    if (!this.dir) throw new Error('the notify channel is not open');
    return join(this.dir, 'notify.sock');
  }

  open(): void {
    this.dir = mkdtempSync(join(tmpdir(), 'podserve-notify-'));
    try {
      this.listener = requireReaper().listenNotify(this.address, (message, sender) => this.receive(message, sender));
      // A daemon started as another user (ProcessSpec.user) must reach it too; the sender
      // check, not the file mode, is what keeps others out.
      chmodSync(this.dir, 0o711);
      chmodSync(this.address, 0o666);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** The spawned child's pid (its process group): messages from elsewhere are dropped. */
  attach(pid: number): void {
    this.pgid = pid;
  }

  close(): void {
    this.listener?.close();
    this.listener = null;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
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
