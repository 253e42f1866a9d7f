import { isIPv4, isIPv6 } from 'node:net';
import type { envTypes } from '@podserve/runtime';
import * as v from 'valibot';

/** The record types DNS_RECORDS accepts: what a self-hosted zone needs, nothing exotic. */
export const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

/** One record, checked: `name` is relative to the zone (`@` for the apex). */
export interface ZoneRecord {
  name: string;
  ttl: number | undefined;
  type: RecordType;
  /** The RDATA as it goes into the zone file (TXT strings already quoted). */
  data: string;
}

const LABEL = /^(?:\*|_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)$/i;
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/**
 * `NAME [TTL] TYPE DATA`, records separated by `;` or new lines, e.g.
 * `www2 A 192.0.2.10; api CNAME www; @ TXT "v=verification"; _sip._tcp SRV 10 5 5060 sip`.
 * NAME is relative to the zone (`@` is the apex); a target without a final dot is too.
 * Returns the record, or why it is not one.
 */
export function parseRecord(text: string, options: { dynamic?: boolean } = {}): ZoneRecord | string {
  // A new line inside a quoted text would end the zone file's line in the middle of the record.
  const control = controlCharacter(text);
  if (control) return `it has ${control}: a record is one line, and a TXT text takes no control characters`;
  const tokens = tokenize(text);
  if (typeof tokens === 'string') return tokens;
  const [name, ...rest] = tokens;
  if (name === undefined) return 'it is empty';
  if (name !== '@' && !name.split('.').every((l) => LABEL.test(l))) {
    return `"${name}" is not a name in the zone (letters, digits, hyphens; _ in front for service labels; @ for the zone itself)`;
  }
  if (!options.dynamic && name.toLowerCase().split('.')[0] === '_acme-challenge') {
    return `"${name}" is kept for RFC 2136: ACME's DNS-01 records come and go through dynamic updates, not DNS_RECORDS`;
  }
  let ttl: number | undefined;
  if (rest[0] !== undefined && /^\d+$/.test(rest[0])) {
    ttl = Number(rest.shift());
    if (ttl < 30 || ttl > 604_800) return `TTL ${ttl} is outside 30 to 604800 seconds`;
  }
  const type = rest.shift()?.toUpperCase();
  if (type === undefined) return 'a type is missing (A, AAAA, CNAME, MX, TXT, SRV, CAA or NS)';
  if (!(RECORD_TYPES as readonly string[]).includes(type)) {
    return `type "${type}" is not one of ${RECORD_TYPES.join(', ')}`;
  }
  const data = rdata(type as RecordType, rest, name);
  if (typeof data !== 'string' || !data.startsWith('ok:')) return data;
  return { name: name.toLowerCase(), ttl, type: type as RecordType, data: data.slice(3) };
}

function rdata(type: RecordType, args: string[], name: string): string {
  const count = (n: number, what: string) =>
    args.length === n
      ? undefined
      : `${type} needs ${what}; found ${args.length === 0 ? 'nothing' : `"${args.join(' ')}"`}`;
  const host = (h: string | undefined) => h !== undefined && (h === '@' || HOST.test(h));
  switch (type) {
    case 'A':
      return (
        count(1, 'an IPv4 address') ?? (isIPv4(args[0] ?? '') ? `ok:${args[0]}` : `"${args[0]}" is not an IPv4 address`)
      );
    case 'AAAA':
      return (
        count(1, 'an IPv6 address') ?? (isIPv6(args[0] ?? '') ? `ok:${args[0]}` : `"${args[0]}" is not an IPv6 address`)
      );
    case 'CNAME':
      if (name === '@') return 'the zone itself (@) cannot be a CNAME';
      return count(1, 'a target name') ?? (host(args[0]) ? `ok:${args[0]}` : `"${args[0]}" is not a host name`);
    case 'NS':
      return count(1, 'a name server') ?? (host(args[0]) ? `ok:${args[0]}` : `"${args[0]}" is not a host name`);
    case 'MX': {
      const problem = count(2, 'a preference and a mail server (e.g. 10 mail)');
      if (problem) return problem;
      const [pref, server] = args as [string, string];
      if (!/^\d+$/.test(pref) || Number(pref) > 65_535) return `MX preference "${pref}" is not 0 to 65535`;
      return host(server) ? `ok:${pref} ${server}` : `"${server}" is not a host name`;
    }
    case 'SRV': {
      const problem = count(4, 'priority, weight, port and target (e.g. 10 5 5060 sip)');
      if (problem) return problem;
      const [priority, weight, port, target] = args as [string, string, string, string];
      for (const [what, n] of [
        ['priority', priority],
        ['weight', weight],
        ['port', port],
      ] as const) {
        if (!/^\d+$/.test(n) || Number(n) > 65_535) return `SRV ${what} "${n}" is not 0 to 65535`;
      }
      return host(target) ? `ok:${priority} ${weight} ${port} ${target}` : `"${target}" is not a host name`;
    }
    case 'CAA': {
      const problem = count(3, 'flags, tag and value (e.g. 0 issue "letsencrypt.org")');
      if (problem) return problem;
      const [flags, tag, value] = args as [string, string, string];
      if (flags !== '0' && flags !== '128') return `CAA flags "${flags}" must be 0 or 128`;
      if (!['issue', 'issuewild', 'iodef'].includes(tag)) return `CAA tag "${tag}" must be issue, issuewild or iodef`;
      return `ok:${flags} ${tag} ${quote(value)}`;
    }
    case 'TXT': {
      if (args.length === 0) return 'TXT needs a text';
      return `ok:${args.map(txtData).join(' ')}`;
    }
  }
}

/** Splits on spaces, keeping "quoted strings" (with \\" and \\\\) together. */
function tokenize(text: string): string[] | string {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '"') {
      let out = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        out += text[i];
        i++;
      }
      if (i >= text.length) return 'a quoted text is not closed';
      i++;
      tokens.push(out);
      continue;
    }
    let out = '';
    while (i < text.length && text[i] !== ' ' && text[i] !== '\t') out += text[i++];
    if (/["\\]/.test(out)) return `"${out}" has a quote or backslash outside a quoted text`;
    tokens.push(out);
  }
  return tokens;
}

/** A text as TXT data: long texts (DKIM keys, DMARC policies) split into the 255-byte strings DNS allows. */
export function txtData(text: string): string {
  return chunks(text).map(quote).join(' ');
}

/** The first control character in `text` (tabs separate fields, so they pass), named for a person. */
export function controlCharacter(text: string): string | undefined {
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (c === '\t' || (code >= 0x20 && code !== 0x7f)) continue;
    if (c === '\n') return 'a new line';
    if (c === '\r') return 'a carriage return';
    return `the control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  }
  return undefined;
}

/** Text for a message: control characters shown as escapes, so the message stays on one line. */
export function shown(text: string): string {
  return text.replace(/[^\t\x20-\x7e\u00a0-\uffff]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function quote(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function chunks(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += 255) out.push(s.slice(i, i + 255));
  return out.length > 0 ? out : [''];
}

/** Records separated by `;` or new lines; a `;` inside a quoted text (DMARC, DKIM) belongs to the text. */
export function splitRecords(text: string): string[] {
  const records: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted && c === '\\' && i + 1 < text.length) {
      current += c + text[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && (c === ';' || c === '\n')) {
      records.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  records.push(current);
  return records.map((r) => r.trim()).filter((r) => r !== '');
}

/**
 * The names the service renders records at itself (the pod's addresses at ns1, www and mail;
 * the DMARC policy at _dmarc; everything at the apex): a CNAME there would share its name with
 * them, which named-checkzone refuses. DNS_RECORDS may replace such a record by name and type,
 * but never hide them all behind a CNAME.
 */
const BUILT_IN_NAMES: Record<string, string> = {
  ns1: 'the pod’s addresses (the zone’s name server)',
  www: 'the pod’s addresses',
  mail: 'the pod’s addresses (the zone’s MX)',
  _dmarc: 'the DMARC policy (DNS_DMARC)',
};

/** The loader prints "DNS_RECORDS: expected …": what a CNAME needs, RFC 1034 §3.6.2. */
const ALONE = 'a CNAME alone at its name, with no other record there';

/**
 * Why DNS_RECORDS is not a set of records the zone can hold, or undefined: the first record
 * that is not one, then the first CNAME that shares its name with other data (RFC 1034 §3.6.2),
 * in DNS_RECORDS or among the records the service makes itself.
 */
export function recordsProblem(text: string): string | undefined {
  const entries = splitRecords(text);
  const records: ZoneRecord[] = [];
  for (const [i, entry] of entries.entries()) {
    const record = parseRecord(entry);
    if (typeof record === 'string') {
      return `expected records as NAME [TTL] TYPE DATA separated by ; (e.g. "www2 A 192.0.2.10; api CNAME www"); record ${i + 1}, "${shown(entry)}": ${record}`;
    }
    records.push(record);
  }
  for (const [i, record] of records.entries()) {
    if (record.type !== 'CNAME') continue;
    const at = `record ${i + 1}, "${entries[i]}"`;
    const builtIn = BUILT_IN_NAMES[record.name];
    if (builtIn) {
      return `${ALONE}; ${at}: ${record.name} has records the service makes itself (${builtIn}); set ${record.name}'s records by name and type instead (e.g. "${record.name} A 192.0.2.10")`;
    }
    const other = records.findIndex((r, j) => j !== i && r.name === record.name);
    if (other >= 0) {
      return `${ALONE}; ${at}, shares ${record.name} with record ${other + 1}, "${entries[other]}"`;
    }
  }
  return undefined;
}

/** DNS_RECORDS as an env type: every record checked, the error naming the first bad one. */
export function zoneRecords(): envTypes.EnvType<ZoneRecord[]> {
  return {
    schema: v.pipe(
      v.string(),
      v.check(
        (s) => recordsProblem(s) === undefined,
        (issue) => recordsProblem(issue.input as string) ?? 'expected records as NAME [TTL] TYPE DATA',
      ),
      v.transform((s) => splitRecords(s).map((r) => parseRecord(r) as ZoneRecord)),
    ),
    type: 'records',
  };
}

/** The record with absolute names only (the owner and any target), as nsupdate takes it. */
export function absoluteRecord(r: ZoneRecord, zone: string): { owner: string; data: string } {
  const absolute = (name: string) => (name === '@' ? `${zone}.` : name.endsWith('.') ? name : `${name}.${zone}.`);
  const words = r.data.split(' ');
  const last = words.length - 1;
  const data =
    r.type === 'CNAME' || r.type === 'NS'
      ? absolute(r.data)
      : r.type === 'MX' || r.type === 'SRV'
        ? [...words.slice(0, last), absolute(words[last] as string)].join(' ')
        : r.data;
  return { owner: absolute(r.name), data };
}

/** One zone-file line. */
export function recordLine(r: ZoneRecord): string {
  return `${r.name.padEnd(24)} ${r.ttl ?? ''}\tIN ${r.type.padEnd(5)} ${r.data}`;
}
