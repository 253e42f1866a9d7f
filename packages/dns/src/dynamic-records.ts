import { type CommandRunner, type Logger, RequestFailed } from '@podserve/runtime';
import { absoluteRecord, parseRecord, type ZoneRecord } from './records.js';
import type { DnsSettings } from './settings.js';
import { collision, type RecordLine, type ZoneStore } from './zone-store.js';

/** The record types the control actions may set (NS stays configuration: delegations are not ad hoc). */
const DYNAMIC_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA'] as const;

/**
 * The control socket's view of dynamic records: everything RFC 2136 added to the zone beyond its
 * configuration (ACME's `_acme-challenge` TXT, records added here). Changes go through named like
 * any client's update (nsupdate, signed with this container's control key), so the journal,
 * DNSSEC and the carry-over at every render treat them alike. A name and type the configuration
 * sets is refused: the next render would drop the dynamic record again.
 */
export class DynamicRecords {
  constructor(
    private readonly s: DnsSettings,
    private readonly store: ZoneStore,
    private readonly commands: CommandRunner,
    private readonly log: Logger,
  ) {}

  async list(): Promise<{ records: RecordLine[] }> {
    const records = await this.store.dynamicNow();
    return { records: records.sort((a, b) => a.owner.localeCompare(b.owner) || a.type.localeCompare(b.type)) };
  }

  /** `name=www type=A value=192.0.2.7 [ttl=300]`: the DNS_RECORDS syntax, one record. */
  async add(input: Record<string, unknown>): Promise<{ added: string }> {
    const record = this.record(input, true);
    const { owner, data } = absoluteRecord(record, this.s.zone);
    await this.refuseConfigured(owner, record.type);
    await this.send(`update add ${owner} ${record.ttl ?? 300} IN ${record.type} ${data}`, 'add', owner);
    return { added: `${owner} ${record.ttl ?? 300} IN ${record.type} ${data}` };
  }

  /** `name=www type=A [value=192.0.2.7]`: that record, or every record of the type at the name. */
  async remove(input: Record<string, unknown>): Promise<{ removed: string }> {
    const type = this.type(input.type);
    let owner: string;
    let data = '';
    if (input.value === undefined) {
      owner = absoluteRecord({ name: this.name(input.name), ttl: undefined, type, data: '' }, this.s.zone).owner;
    } else {
      const record = this.record(input, false);
      ({ owner, data } = absoluteRecord(record, this.s.zone));
    }
    await this.refuseConfigured(owner, type);
    await this.send(`update delete ${owner} IN ${type}${data ? ` ${data}` : ''}`, 'delete', owner);
    return { removed: `${owner} ${type}${data ? ` ${data}` : ''}` };
  }

  private record(input: Record<string, unknown>, withTtl: boolean): ZoneRecord {
    const name = this.name(input.name);
    const type = this.type(input.type);
    if (typeof input.value !== 'string' || input.value.trim() === '') {
      throw new RequestFailed(`value= is required: the ${type} record's data (as in DNS_RECORDS)`);
    }
    if (/[\n;]/.test(input.value)) throw new RequestFailed('value= is one record: no new lines or ;');
    const ttl = withTtl && input.ttl !== undefined ? ` ${String(input.ttl)}` : '';
    const value =
      type === 'TXT' && !input.value.startsWith('"') ? `"${input.value.replaceAll('"', '\\"')}"` : input.value;
    const parsed = parseRecord(`${name}${ttl} ${type} ${value}`, { dynamic: true });
    if (typeof parsed === 'string') throw new RequestFailed(`not a record: ${parsed}`);
    return parsed;
  }

  /** `www`, `@`, `www.example.test.` → the name relative to the zone. */
  private name(raw: unknown): string {
    if (typeof raw !== 'string' || raw === '') throw new RequestFailed('name= is required (e.g. name=www, name=@)');
    const zone = this.s.zone;
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (name === zone || name === '@') return '@';
    if (name.endsWith(`.${zone}`)) return name.slice(0, -zone.length - 1);
    // A final dot makes a name absolute: one outside the zone is not ours to change.
    if (raw.endsWith('.')) throw new RequestFailed(`"${raw}" is not in the zone ${zone}`);
    return name;
  }

  private type(raw: unknown): (typeof DYNAMIC_TYPES)[number] {
    const type = typeof raw === 'string' ? raw.toUpperCase() : '';
    if (!(DYNAMIC_TYPES as readonly string[]).includes(type)) {
      throw new RequestFailed(`type= must be one of ${DYNAMIC_TYPES.join(', ')}`);
    }
    return type as (typeof DYNAMIC_TYPES)[number];
  }

  private async refuseConfigured(owner: string, type: string): Promise<void> {
    const clash = collision({ owner, ttl: 0, type, data: '' }, await this.store.staticNow());
    if (clash) {
      throw new RequestFailed(
        `${clash} is set by the configuration (DNS_RECORDS, DNS_ZONE_SNIPPET or the built-in records): change it there`,
      );
    }
  }

  private async send(line: string, what: 'add' | 'delete', owner: string): Promise<void> {
    const script = [`server 127.0.0.1 ${this.s.port}`, `zone ${this.s.zone}.`, line, 'send', ''].join('\n');
    this.log.info({ owner, what }, `dynamic record: ${line}`);
    const result = await this.commands.run(['nsupdate', '-k', this.s.paths.controlKey, '-t', '10'], {
      input: script,
      reject: false,
      timeoutMs: 15_000,
    });
    if (result.exitCode !== 0) {
      throw new RequestFailed(`named refused the update: ${(result.stderr || result.stdout).trim().split('\n').pop()}`);
    }
  }
}
