import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigFile, Logger } from '@podserve/runtime';
import { renderNamedConf } from './named-conf.js';
import { parseRecord } from './records.js';
import type { DnsSettings } from './settings.js';
import { renderZone } from './zone.js';

/** The key the control actions sign their updates with: made at every start, never leaves the container. */
export const CONTROL_KEY = 'podserve-control';

/** The whole configuration set: named.conf and the static zone (serial 0; the ZoneStore numbers it). */
export function renderDnsSet(s: DnsSettings, log: Logger): ConfigFile[] {
  // Keys on disk: the zone was signed before, so turning DNSSEC off must go through insecure.
  const wasSigned = existsSync(s.paths.keysDir) && readdirSync(s.paths.keysDir).some((f) => f.endsWith('.private'));
  return [
    renderNamedConf({ settings: s, acmeNames: acmeNames(s), wasSigned, controlKey: CONTROL_KEY }),
    { path: `db.${s.zone}`, content: renderStaticZone(s, log) },
  ];
}

/** The static zone with serial 0: the ZoneStore gives it a serial past every one served when it installs it. */
function renderStaticZone(s: DnsSettings, log: Logger): string {
  const text = renderZone({
    zone: s.zone,
    serial: 0,
    addresses: s.addresses,
    records: s.records,
    caaIssuer: s.caaIssuer,
    dmarc: s.dmarc,
    dkim: publishedDkim(s.dkimPath, log),
  });
  if (!s.snippetFile) return text;
  return `${text}; DNS_ZONE_SNIPPET (${s.snippetFile}) follows\n${readFileSync(s.snippetFile, 'utf8')}\n`;
}

/**
 * A DKIM key published as a file, `DNS_DKIM_PATH/SELECTOR.txt` (opendkim-genkey's format or a
 * bare value), for a mail server that does not use RFC 2136. The pod's mail service publishes
 * by RFC 2136 with its own key instead.
 */
function publishedDkim(dir: string, log: Logger): { selector: string; txt: string } | undefined {
  let file: string | undefined;
  try {
    file = readdirSync(dir)
      .filter((f) => /^[a-z0-9][a-z0-9-]*\.txt$/i.test(f))
      .sort()[0];
  } catch {
    return undefined; // not published yet
  }
  if (!file) return undefined;
  const selector = file.slice(0, -4);
  const raw = readFileSync(join(dir, file), 'utf8');
  // opendkim-genkey writes a whole record with quoted strings; a bare value is taken as is.
  const quoted = [...raw.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
  const value = (quoted || raw).replace(/\s+/g, ' ').trim();
  const record = parseRecord(`${selector}._domainkey TXT "${value.replaceAll('"', '')}"`);
  if (typeof record === 'string') {
    log.warn({ file: join(dir, file) }, `the DKIM key in ${join(dir, file)} is not usable: ${record}`);
    return undefined;
  }
  return { selector, txt: record.data };
}

/** The zone's own host names: the apex and every name with an address (their `_acme-challenge` is updatable). */
function acmeNames(s: DnsSettings): string[] {
  const relative = new Set(['@', 'ns1', 'www', 'mail']);
  for (const r of s.records) {
    if (['A', 'AAAA', 'CNAME'].includes(r.type) && !r.name.includes('*')) relative.add(r.name);
  }
  return [...relative].map((n) => (n === '@' ? s.zone : `${n}.${s.zone}`));
}
