import { recordLine, txtData, type ZoneRecord } from './records.js';

export interface ZoneInput {
  /** The zone's name, e.g. example.test (no final dot). */
  zone: string;
  serial: number;
  /** The pod's public addresses: the apex, www, mail and the name server answer with them. */
  addresses: { v4: readonly string[]; v6: readonly string[] };
  /** DNS_RECORDS: added after the defaults; a record of the same name and type replaces the default. */
  records: readonly ZoneRecord[];
  /** Who may issue certificates for the zone (CAA). */
  caaIssuer: string;
  /** DMARC policy for `_dmarc`. */
  dmarc: string;
  /** The mail service's DKIM record, once it has published one. */
  dkim?: { selector: string; txt: string };
  ttl?: number;
}

/**
 * The next SOA serial: the date form YYYYMMDDnn when it is ahead, otherwise the previous
 * serial plus one. It always increases, so secondaries and resolvers see every change, also
 * when a zone changes more than 99 times a day or the clock goes back.
 */
export function nextSerial(previous: number | undefined, now = new Date()): number {
  const day = Number(now.toISOString().slice(0, 10).replaceAll('-', '')) * 100;
  return previous === undefined || day > previous ? day : previous + 1;
}

/**
 * The zone file, rendered from the configuration at every start (never first-start only):
 * SOA, NS, the addresses of the apex, www, mail and ns1, MX, SPF, DMARC, CAA, DKIM when
 * there is one, then DNS_RECORDS. Dynamic records (RFC 2136: ACME's _acme-challenge TXT, the
 * control actions' records) live in named's journal and are carried over by the ZoneStore.
 */
export function renderZone(z: ZoneInput): string {
  const ttl = z.ttl ?? 300;
  const origin = `${z.zone}.`;
  const defaults: ZoneRecord[] = [];
  const add = (name: string, type: ZoneRecord['type'], data: string) =>
    defaults.push({ name, ttl: undefined, type, data });
  add('@', 'NS', `ns1.${origin}`);
  for (const name of ['@', 'ns1', 'www', 'mail']) {
    for (const a of z.addresses.v4) add(name, 'A', a);
    for (const a of z.addresses.v6) add(name, 'AAAA', a);
  }
  add('@', 'MX', `10 mail.${origin}`);
  add('@', 'TXT', '"v=spf1 mx -all"');
  add('_dmarc', 'TXT', txtData(z.dmarc));
  add('@', 'CAA', `0 issue "${z.caaIssuer}"`);
  if (z.dkim) add(`${z.dkim.selector}._domainkey`, 'TXT', z.dkim.txt);
  const overridden = new Set(z.records.map((r) => `${r.name} ${r.type}`));
  // A CNAME in DNS_RECORDS takes its name whole: DNS_RECORDS refuses one at the names above,
  // so this is the DKIM selector's, delegated to a provider (the key file is not used then).
  const aliases = new Set(z.records.filter((r) => r.type === 'CNAME').map((r) => r.name));
  const records = [
    ...defaults.filter((r) => !overridden.has(`${r.name} ${r.type}`) && !aliases.has(r.name)),
    ...z.records,
  ];
  return [
    `; Rendered by PodServe (dns service) from its configuration; changes here are overwritten.`,
    `$ORIGIN ${origin}`,
    `$TTL ${ttl}`,
    `@ IN SOA ns1.${origin} hostmaster.${origin} ( ${z.serial} 3600 600 1209600 300 )`,
    ...records.map(recordLine),
    '',
  ].join('\n');
}
