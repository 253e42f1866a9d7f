import { type ConfigFile, conf, dedent } from '@podserve/runtime';
import type { DnsSettings } from './settings.js';

export interface NamedConfInput {
  settings: DnsSettings;
  /** Names whose `_acme-challenge` TXT the update key may change (the zone's own host names). */
  acmeNames: readonly string[];
  /** The zone has been signed before: turning DNSSEC off must go through `insecure`, not drop the signatures. */
  wasSigned: boolean;
  /** The name of the key the control actions sign their updates with (any record type a zone here may have). */
  controlKey: string;
}

/**
 * named's whole configuration, one standalone file: no /etc/bind, no Debian defaults. The
 * zone file itself lives in the state directory, because named writes it (dynamic updates).
 */
export function renderNamedConf(input: NamedConfInput): ConfigFile {
  const { settings: s, acmeNames } = input;
  const p = s.paths;
  const clients = list(s.recursionClients);
  const recursion =
    s.recursionClients.length === 0
      ? ['recursion no;']
      : ['recursion yes;', conf`allow-recursion { ${clients} };`, conf`allow-query-cache { ${clients} };`];
  const forwarders = s.forwarders.length > 0 ? [conf`forwarders { ${list(s.forwarders)} };`, 'forward only;'] : [];
  const exempt = s.recursionClients.length > 0 ? conf` exempt-clients { ${clients} };` : '';
  const rateLimit = s.rateLimit > 0 ? [conf`rate-limit { responses-per-second ${s.rateLimit};${exempt} };`] : [];
  const transferKey = `"${s.transferKeyName}"`;
  const transfer =
    s.secondaries.length > 0
      ? [
          // From one of the secondaries AND signed with the transfer key: BIND's double negation.
          conf`allow-transfer { !{ !{ ${list(s.secondaries)} }; any; }; key ${transferKey}; };`,
          conf`also-notify { ${s.secondaries.map((a) => `${a} key ${transferKey};`)} };`,
          'notify explicit;',
        ]
      : ['allow-transfer { none; };', 'notify no;'];
  const policy = s.dnssec ? 'default' : input.wasSigned ? 'insecure' : undefined;
  const signing =
    policy === undefined
      ? []
      : [conf`dnssec-policy ${policy};`, 'inline-signing yes;', conf`key-directory "${p.keysDir}";`];
  const grants = [
    ...acmeNames.map((n) => conf`    grant "${s.updateKeyName}" name _acme-challenge.${n}. TXT;`),
    // The mail service's key: its DKIM record (SELECTOR._domainkey), a TXT, nothing else.
    conf`    grant "${s.dkimKeyName}" wildcard *._domainkey.${s.zone}. TXT;`,
    conf`    grant "${input.controlKey}" zonesub A AAAA CNAME MX TXT SRV CAA;`,
  ];
  const options = [
    conf`directory "${p.workDir}";`,
    conf`managed-keys-directory "${p.workDir}";`,
    'pid-file none;',
    'session-keyfile none;',
    conf`listen-on port ${s.port} { any; };`,
    conf`listen-on-v6 port ${s.port} { any; };`,
    'allow-query { any; };',
    'allow-transfer { none; };',
    'allow-update { none; };',
    ...recursion,
    ...forwarders,
    'dnssec-validation auto;',
    'minimal-responses yes;',
    // RFC 8482: ANY over UDP gets one RRset, not the whole apex (a 30-byte query, a 1.3 kB
    // signed answer): no amplifier for spoofed sources. Over TCP the full answer stays.
    'minimal-any yes;',
    '// Nothing about the server itself: no version, host name or id for a scanner.',
    'version none;',
    'hostname none;',
    'server-id none;',
    ...rateLimit,
  ];
  const zone = [
    'type primary;',
    conf`file "${p.zoneFile}";`,
    ...signing,
    "// RFC 2136: the update key may only set ACME's DNS-01 TXT records of the zone's own names;",
    "// the control actions' key (this container's only) may set records of the usual types.",
    'update-policy {',
    ...grants,
    '};',
    ...transfer,
  ];
  const indent = (lines: string[]) => lines.map((l) => `    ${l}`).join('\n');
  const text = dedent(conf`
    // Rendered by PodServe (dns service); every change goes through named-checkconf first.
    include "${p.updateKey}";
    include "${p.dkimKey}";
    ${s.secondaries.length > 0 ? conf`include "${p.transferKey}";` : '// no secondaries: no transfer key'}
    include "${p.rndcKey}";
    include "${p.controlKey}";

    options {
    %OPTIONS%
    };

    // stderr, which the runtime reads and levels: "category: severity: message".
    logging {
        channel to_stderr { stderr; severity info; print-category yes; print-severity yes; };
        category default { to_stderr; };
        category lame-servers { null; };
        category edns-disabled { null; };
    };

    // rndc on loopback only, with a key made for this start.
    controls { inet 127.0.0.1 port ${s.rndcPort} allow { 127.0.0.1; } keys { "rndc-key"; }; };

    zone "${s.zone}" {
    %ZONE%
    };
  `)
    .replace('%OPTIONS%', indent(options))
    .replace('%ZONE%', indent(zone));
  return { path: 'named.conf', content: text };
}

function list(items: readonly string[]): string {
  return items.map((i) => `${i};`).join(' ');
}
