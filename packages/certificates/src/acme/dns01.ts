import type { CommandRunner, Logger } from '@podserve/runtime';
import type { DnsSettings } from '../settings.js';

/**
 * DNS-01 through RFC 2136 dynamic updates signed with TSIG, sent by `nsupdate`
 * (bind9-dnsutils): the reference implementation BIND itself tests against. The script,
 * TSIG secret included, goes through stdin, never argv (argv is visible in /proc and logs).
 */
export class Dns01Updater {
  constructor(
    private readonly dns: DnsSettings,
    private readonly commands: CommandRunner,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** `_acme-challenge.<name>` for a name or the base of a wildcard. */
  static recordName(identifier: string): string {
    return `_acme-challenge.${identifier.replace(/^\*\./, '')}.`;
  }

  async add(identifier: string, value: string): Promise<void> {
    // Add, never replace: a wildcard and its base name share one TXT name and are solved in parallel.
    await this.send([`update add ${Dns01Updater.recordName(identifier)} 60 IN TXT "${value}"`], 'add', identifier);
  }

  async remove(identifier: string, value: string): Promise<void> {
    await this.send([`update delete ${Dns01Updater.recordName(identifier)} IN TXT "${value}"`], 'delete', identifier);
  }

  async waitForPropagation(): Promise<void> {
    if (this.dns.propagationMs > 0) {
      this.log.debug({ ms: this.dns.propagationMs }, 'waiting for DNS propagation');
      await new Promise((r) => setTimeout(r, this.dns.propagationMs));
    }
  }

  private async send(updates: string[], what: string, identifier: string): Promise<void> {
    const { server, zone, keyName, algorithm, secret } = this.dns;
    const script = [
      `server ${server.host} ${server.port}`,
      ...(zone ? [`zone ${zone}`] : []),
      `key ${algorithm}:${keyName} ${secret}`,
      ...updates,
      'send',
      '',
    ].join('\n');
    const seconds = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    this.log.debug(
      { server, zone, keyName, algorithm, record: Dns01Updater.recordName(identifier), what },
      `DNS-01: ${what} TXT`,
    );
    const result = await this.commands.run(['nsupdate', '-v', '-t', String(seconds)], {
      input: script,
      timeoutMs: this.timeoutMs + 5_000,
      reject: false,
    });
    if (result.exitCode !== 0) {
      const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' ');
      throw new Error(
        `DNS-01 update (${what} ${Dns01Updater.recordName(identifier)} at ${server.host}:${server.port}) failed: ${detail || `nsupdate exit ${result.exitCode}`}`,
      );
    }
  }
}
