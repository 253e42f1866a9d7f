import { type CommandRunner, type Logger, RequestFailed } from '@podserve/runtime';
import { queryDns } from './query.js';
import type { DnsSettings } from './settings.js';

export interface DynamicRecord {
  name: string;
  ttl: number;
  values: string[];
}

/**
 * The control socket's view of RFC 2136 records: `_acme-challenge` TXT of the zone's own names.
 * Changes go through named like any client's (nsupdate, signed with the update key), so the
 * update policy, the journal and DNSSEC treat them exactly alike.
 */
export class DynamicRecords {
  constructor(
    private readonly s: DnsSettings,
    private readonly commands: CommandRunner,
    private readonly log: Logger,
  ) {}

  /** What named answers now for each `_acme-challenge` name it accepts updates for. */
  async list(names: readonly string[]): Promise<{ records: DynamicRecord[] }> {
    const records: DynamicRecord[] = [];
    for (const name of names) {
      const fqdn = `_acme-challenge.${name}`;
      const answer = await queryDns({
        host: '127.0.0.1',
        port: this.s.port,
        name: fqdn,
        type: 'TXT',
        transport: 'tcp',
      });
      const txt = answer.answers.filter((a) => a.type === 16) as unknown as { ttl: number; data: string | string[] }[];
      if (txt.length === 0) continue;
      records.push({
        name: fqdn,
        ttl: txt[0]?.ttl ?? 0,
        values: txt.map((t) => (Array.isArray(t.data) ? t.data.join('') : t.data)),
      });
    }
    return { records };
  }

  async change(
    what: 'add' | 'delete',
    input: Record<string, unknown>,
    names: readonly string[],
  ): Promise<{ name: string; done: string }> {
    const name = this.recordName(input.name, names);
    const value = input.value === undefined ? undefined : String(input.value);
    if (what === 'add' && value === undefined) throw new RequestFailed('value= is required: the TXT text to add');
    if (value !== undefined && !/^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/.test(value)) {
      throw new RequestFailed('value= must be 1 to 255 printable characters without spaces, quotes or backslashes');
    }
    const ttl = input.ttl === undefined ? 60 : Number(input.ttl);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) throw new RequestFailed('ttl= must be 1 to 86400 seconds');
    const line =
      what === 'add'
        ? `update add ${name}. ${ttl} IN TXT "${value}"`
        : `update delete ${name}. IN TXT${value === undefined ? '' : ` "${value}"`}`;
    const script = [`server 127.0.0.1 ${this.s.port}`, `zone ${this.s.zone}.`, line, 'send', ''].join('\n');
    this.log.info({ name, what }, `dynamic record: ${what} ${name} TXT`);
    const result = await this.commands.run(['nsupdate', '-k', this.s.paths.updateKey, '-t', '10'], {
      input: script,
      reject: false,
      timeoutMs: 15_000,
    });
    if (result.exitCode !== 0) {
      throw new RequestFailed(`named refused the update: ${(result.stderr || result.stdout).trim().split('\n').pop()}`);
    }
    return { name, done: what === 'add' ? 'added' : 'removed' };
  }

  /** `www`, `@`, `www.example.test` or `_acme-challenge.www.example.test` → the record's name, if updatable. */
  private recordName(raw: unknown, names: readonly string[]): string {
    if (typeof raw !== 'string' || raw === '') throw new RequestFailed('name= is required (e.g. name=@ or name=www)');
    const zone = this.s.zone;
    let host = raw
      .toLowerCase()
      .replace(/\.$/, '')
      .replace(/^_acme-challenge\./, '');
    if (host === '@') host = zone;
    else if (host !== zone && !host.endsWith(`.${zone}`)) host = `${host}.${zone}`;
    if (!names.includes(host)) {
      throw new RequestFailed(`"${raw}": the update key may only set _acme-challenge of ${names.join(', ')}`);
    }
    return `_acme-challenge.${host}`;
  }
}
