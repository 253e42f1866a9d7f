import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CommandRunner, Conflict, type ServiceAction, Unavailable } from '@podserve/runtime';
import * as v from 'valibot';
import type { DynamicRecords } from './dynamic-records.js';
import type { DnsSettings } from './settings.js';

interface Parts {
  settings: DnsSettings;
  commands: CommandRunner;
  /** Undefined until the service has configured itself. */
  dynamic(): DynamicRecords | undefined;
  namedState(): string | undefined;
}

/** The dns service's control actions: its dynamic records (through named, RFC 2136) and the DS record. */
export function dnsActions(parts: Parts): Record<string, ServiceAction> {
  const dynamic = (change: boolean) => {
    const records = parts.dynamic();
    if (!records) throw new Unavailable('the service is not started yet: try again once it is ready');
    // Changes go through named: without it nsupdate would only time out.
    const named = parts.namedState();
    if (change && named !== 'running') {
      throw new Unavailable(`named is ${named ?? 'not started yet'}: records can be changed once it runs`);
    }
    return records;
  };
  return {
    records: {
      readOnly: true,
      summary: 'list the dynamic records (RFC 2136: ACME challenges, records added here)',
      output: v.object({
        records: v.array(v.object({ owner: v.string(), ttl: v.number(), type: v.string(), data: v.string() })),
      }),
      run: async () => dynamic(false).list(),
    },
    'record-add': {
      summary: 'add a record: name=www type=A value=192.0.2.7 [ttl=300] (A, AAAA, CNAME, MX, TXT, SRV, CAA)',
      output: v.object({ added: v.string() }),
      // The shape here (listed by GET /v1/actions); what a name, type or value may be is the
      // DNS_RECORDS syntax, checked by DynamicRecords with the record's own words.
      input: v.strictObject({
        name: v.string(),
        type: v.string(),
        value: v.string(),
        ttl: v.optional(v.union([v.pipe(v.number(), v.integer()), v.string()])),
      }),
      run: async (input) => dynamic(true).add(input),
    },
    'record-remove': {
      summary: 'remove records: name=www type=A [value=192.0.2.7: only that one]',
      output: v.object({ removed: v.string() }),
      input: v.strictObject({ name: v.string(), type: v.string(), value: v.optional(v.string()) }),
      run: async (input) => dynamic(true).remove(input),
    },
    ds: {
      readOnly: true,
      summary: 'the DS record(s) to publish at the parent zone (DNSSEC)',
      run: async () => {
        dynamic(false);
        return dsRecords(parts.settings, parts.commands);
      },
    },
  };
}

/** What the parent zone needs: a DS for each key that signs keys (KSK or CSK, flags 257). */
async function dsRecords(s: DnsSettings, commands: CommandRunner): Promise<{ ds: string[] }> {
  if (!s.dnssec) throw new Conflict('DNS_DNSSEC is off: the zone is not signed, so it has no DS record');
  const keys = readdirSync(s.paths.keysDir).filter((f) => f.startsWith(`K${s.zone}.`) && f.endsWith('.key'));
  const ds: string[] = [];
  for (const key of keys) {
    if (!/\bDNSKEY\s+257\b/.test(readFileSync(join(s.paths.keysDir, key), 'utf8'))) continue;
    const result = await commands.run(['dnssec-dsfromkey', '-2', join(s.paths.keysDir, key)], {
      reject: false,
      timeoutMs: 10_000,
    });
    if (result.exitCode === 0) ds.push(...result.stdout.trim().split('\n'));
  }
  if (ds.length === 0) throw new Unavailable(`no signing key for ${s.zone} yet (named makes it on its first start)`);
  return { ds };
}
