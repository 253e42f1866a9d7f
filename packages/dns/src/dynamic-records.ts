import { BadRequest, type CommandRunner, Conflict, type Logger, RequestFailed } from '@podserve/runtime';
import { Packet } from 'dns2';
import { queryDns } from './query.js';
import { absoluteRecord, parseRecord, type ZoneRecord } from './records.js';
import type { DnsSettings } from './settings.js';
import { collision, type RecordLine, type ZoneStore } from './zone-store.js';

/** The record types the control actions may set (NS stays configuration: delegations are not ad hoc). */
const DYNAMIC_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA'] as const;
type DynamicType = (typeof DYNAMIC_TYPES)[number];
/** How long an added record may take to be served (inline signing re-signs the zone first). */
const SERVED_WITHIN_MS = 5_000;

/** Does named answer `owner` (absolute) with `type`, holding `data` where the answer can be compared? */
export type ServedCheck = (owner: string, type: DynamicType, data: string) => Promise<boolean>;

/**
 * The control socket's view of dynamic records: everything RFC 2136 added to the zone beyond its
 * configuration (ACME's `_acme-challenge` TXT, records added here). Changes go through named like
 * any client's update (nsupdate, signed with this container's control key), so the journal,
 * DNSSEC and the carry-over at every render treat them alike. A name and type the configuration
 * sets is refused: the next render would drop the dynamic record again.
 *
 * Errors speak HTTP through the control socket: BadRequest (400) for input that is not a record,
 * Conflict (409) for a record that cannot live beside what is there, RequestFailed (500) only
 * when named did not take (or does not serve) a well-formed update.
 */
export class DynamicRecords {
  constructor(
    private readonly s: DnsSettings,
    private readonly store: ZoneStore,
    private readonly commands: CommandRunner,
    private readonly log: Logger,
    private readonly served: ServedCheck = (owner, type, data) => answers(s, owner, type, data),
  ) {}

  async list(): Promise<{ records: RecordLine[] }> {
    const records = await this.store.dynamicNow();
    return { records: records.sort((a, b) => a.owner.localeCompare(b.owner) || a.type.localeCompare(b.type)) };
  }

  /** `name=www type=A value=192.0.2.7 [ttl=300]`: the DNS_RECORDS syntax, one record. */
  async add(input: Record<string, unknown>): Promise<{ added: string }> {
    const record = this.record(input, true);
    const { owner, data } = absoluteRecord(record, this.s.zone);
    const type = record.type as DynamicType;
    await this.refuseConfigured(owner, type);
    await this.refuseBesideCname(owner, type);
    const line = `${owner} ${record.ttl ?? 300} IN ${type} ${data}`;
    await this.send(`update add ${line}`, 'add', owner);
    await this.confirmServed(owner, type, data);
    return { added: line };
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
      throw new BadRequest(`value= is required: the ${type} record's data (as in DNS_RECORDS)`);
    }
    if (/[\n;]/.test(input.value)) throw new BadRequest('value= is one record: no new lines or ;');
    const ttl = withTtl && input.ttl !== undefined ? ` ${String(input.ttl)}` : '';
    const value =
      type === 'TXT' && !input.value.startsWith('"') ? `"${input.value.replaceAll('"', '\\"')}"` : input.value;
    const parsed = parseRecord(`${name}${ttl} ${type} ${value}`, { dynamic: true });
    if (typeof parsed === 'string') throw new BadRequest(`not a record: ${parsed}`);
    return parsed;
  }

  /** `www`, `@`, `www.example.test.` → the name relative to the zone. */
  private name(raw: unknown): string {
    if (typeof raw !== 'string' || raw === '') throw new BadRequest('name= is required (e.g. name=www, name=@)');
    const zone = this.s.zone;
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (name === zone || name === '@') return '@';
    if (name.endsWith(`.${zone}`)) return name.slice(0, -zone.length - 1);
    // A final dot makes a name absolute: one outside the zone is not ours to change.
    if (raw.endsWith('.')) throw new BadRequest(`"${raw}" is not in the zone ${zone}`);
    return name;
  }

  private type(raw: unknown): DynamicType {
    const type = typeof raw === 'string' ? raw.toUpperCase() : '';
    if (!(DYNAMIC_TYPES as readonly string[]).includes(type)) {
      throw new BadRequest(`type= must be one of ${DYNAMIC_TYPES.join(', ')}; found "${String(raw ?? '')}"`);
    }
    return type as DynamicType;
  }

  private async refuseConfigured(owner: string, type: string): Promise<void> {
    const clash = collision({ owner, ttl: 0, type, data: '' }, await this.store.staticNow());
    if (clash) {
      throw new Conflict(
        `${clash} is set by the configuration (DNS_RECORDS, DNS_ZONE_SNIPPET or the built-in records): change it there`,
      );
    }
  }

  /**
   * A CNAME shares its name with nothing (RFC 1034 §3.6.2), and named enforces it by ignoring
   * the update's record while answering NOERROR: refused here, with the reason, instead.
   * Another CNAME at the name is replaced by the update, which is fine.
   */
  private async refuseBesideCname(owner: string, type: DynamicType): Promise<void> {
    const atName = (await this.store.dynamicNow()).filter((r) => r.owner === owner);
    const cname = atName.find((r) => r.type === 'CNAME');
    if (type !== 'CNAME' && cname) {
      throw new Conflict(
        `${owner} is a CNAME (to ${cname.data}): a ${type} record beside it would be ignored; remove the CNAME first`,
      );
    }
    const others = [...new Set(atName.filter((r) => r.type !== 'CNAME').map((r) => r.type))];
    if (type === 'CNAME' && others.length > 0) {
      throw new Conflict(
        `${owner} has ${others.join(', ')} data: a CNAME cannot share its name with other records; remove them first`,
      );
    }
  }

  /** named said yes; does it serve the record? A NOERROR for an update it ignored is not success. */
  private async confirmServed(owner: string, type: DynamicType, data: string): Promise<void> {
    const deadline = Date.now() + SERVED_WITHIN_MS;
    for (;;) {
      const served = await this.served(owner, type, data).catch((err: Error) => {
        this.log.debug({ owner, type, err: err.message }, 'dynamic record: query failed');
        return false;
      });
      if (served) {
        this.log.debug({ owner, type }, `dynamic record: ${owner} ${type} is served`);
        return;
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    this.log.error({ owner, type }, `named took the update but does not serve ${owner} ${type} ${data}`);
    throw new RequestFailed(
      `named took the update but does not serve ${owner} ${type} ${data} within ${SERVED_WITHIN_MS / 1000} s`,
    );
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

/**
 * named's answer for `owner` and `type` over TCP (no truncation): a record of that type at that
 * very name (a CNAME chain's target does not count), with the address itself for A and AAAA.
 */
async function answers(s: DnsSettings, owner: string, type: DynamicType, data: string): Promise<boolean> {
  const name = owner.replace(/\.$/, '');
  const answer = await queryDns({ host: '127.0.0.1', port: s.port, name, type, transport: 'tcp', timeoutMs: 1_000 });
  const code = Packet.TYPE[type];
  const records = answer.answers.filter((a) => a.type === code && a.name.toLowerCase() === name);
  if (type !== 'A' && type !== 'AAAA') return records.length > 0;
  const address = (a: string) => new URL(`http://${type === 'AAAA' ? `[${a}]` : a}`).hostname;
  return records.some((r) => address((r as { address?: string }).address ?? '') === address(data));
}
