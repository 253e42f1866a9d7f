import { existsSync } from 'node:fs';
import type { CommandRunner, Logger } from '@podserve/runtime';

export interface DkimPublication {
  /** SELECTOR._domainkey.DOMAIN for every mail domain inside the zone. */
  names: string[];
  published: boolean;
  /** Why not (yet), while not published. */
  reason?: string;
}

const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 300_000;

/**
 * Publishes the DKIM record into the pod's dns service by RFC 2136 (nsupdate), signed with the
 * key the dns service made for it (`dkim-update`, which may write only `*._domainkey` TXT).
 * Until the key exists (dns not started yet, or no dns in the pod) or while the server does not
 * answer, it retries with backoff (5 s up to 5 min) and says why in status; the record to add by
 * hand is in the log from the start either way.
 */
export class DkimPublisher {
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  readonly state: DkimPublication;

  constructor(
    private readonly options: {
      keyFile: string;
      server: { host: string; port: number };
      zone: string;
      domains: readonly string[];
      selector: string;
      record: string;
    },
    private readonly commands: CommandRunner,
    private readonly log: Logger,
  ) {
    const inZone = options.domains.filter((d) => d === options.zone || d.endsWith(`.${options.zone}`));
    this.state = {
      names: inZone.map((d) => `${options.selector}._domainkey.${d}`),
      published: false,
      reason: inZone.length === 0 ? `no mail domain is in the zone ${options.zone}` : 'not tried yet',
    };
  }

  start(): void {
    if (this.state.names.length > 0) this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.attempt(), ms);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    const { keyFile, server, zone } = this.options;
    if (!existsSync(keyFile)) {
      this.retry(`no key for DNS updates at ${keyFile} (the dns service makes it on its first start)`);
      return;
    }
    const script = [
      `server ${server.host} ${server.port}`,
      `zone ${zone}.`,
      ...this.state.names.flatMap((name) => [
        `update delete ${name}. TXT`,
        `update add ${name}. 3600 TXT ${txtStrings(this.options.record)}`,
      ]),
      'send',
      '',
    ].join('\n');
    const result = await this.commands.run(['nsupdate', '-k', keyFile, '-t', '5'], {
      input: script,
      reject: false,
      timeoutMs: 20_000,
    });
    if (result.exitCode === 0) {
      this.failures = 0;
      Object.assign(this.state, { published: true, reason: undefined });
      this.log.info(
        { names: this.state.names },
        `DKIM: published ${this.state.names.join(', ')} TXT in ${zone} (RFC 2136)`,
      );
      return;
    }
    this.retry(
      `nsupdate to ${server.host}:${server.port} failed: ${(result.stderr || result.stdout).trim().split('\n')[0]}`,
    );
  }

  private retry(reason: string): void {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.failures, MAX_RETRY_MS);
    this.failures += 1;
    const changed = reason !== this.state.reason;
    Object.assign(this.state, { published: false, reason });
    // A new reason is a warning; the same one again only at debug.
    this.log[changed ? 'warn' : 'debug'](
      { retryMs: delay },
      `DKIM: not published: ${reason}; trying again in ${Math.round(delay / 1000)} s`,
    );
    this.schedule(delay);
  }
}

/** A TXT value as quoted strings of at most 255 bytes (RFC 1035): a 2048-bit key is longer. */
export function txtStrings(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return parts.join(' ');
}
