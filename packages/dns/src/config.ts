import { defineEnv, type EnvValues, envTypes } from '@podserve/runtime';
import { clientList, ipList, keyName, serverList } from './env-types.js';
import { zoneRecords } from './records.js';

/** The DNS service's environment: validated at once, documented from here. */
export const dnsEnv = defineEnv({
  DOMAIN: {
    ...envTypes.hostname(),
    devDefault: 'podserve.test',
    description: 'The pod’s domain: the zone served, unless DNS_ZONE names another.',
  },
  DNS_ZONE: {
    ...envTypes.hostname(),
    optional: true,
    description: 'The zone this server is authoritative for. Default: DOMAIN.',
  },
  DNS_ADDRESSES: {
    ...ipList(),
    devDefault: '127.0.0.1',
    description:
      'The pod’s public addresses (IPv4 and IPv6, comma-separated): the zone’s apex, www, mail and ns1 answer with them. Required in production.',
  },
  DNS_RECORDS: {
    ...zoneRecords(),
    optional: true,
    description:
      'Extra records, `NAME [TTL] TYPE DATA` separated by `;` (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS), e.g. `blog CNAME www; @ TXT "google-site-verification=…"`. NAME is relative to the zone (`@` is the zone itself). A record of the same name and type replaces the built-in one. `_acme-challenge` names are kept for RFC 2136.',
  },
  DNS_ZONE_SNIPPET: {
    ...envTypes.absolutePath(),
    optional: true,
    description:
      'A file of zone-file lines (relative names, as in a BIND zone) added to the rendered zone; read at every start and reload and checked with named-checkzone with the rest.',
  },
  DNS_FORWARDERS: {
    ...serverList(),
    optional: true,
    description:
      'Resolvers to forward the pod’s recursive queries to, `ADDRESS` or `ADDRESS#PORT`, comma-separated (forward only). Default: none, named resolves from the root servers.',
  },
  DNS_RECURSION_CLIENTS: {
    ...clientList(),
    default: '127.0.0.0/8, ::1',
    description:
      'Who may ask for recursion (addresses or prefixes, or `none`). Default: the pod itself (loopback). Every other client gets REFUSED for names outside the zone: never an open resolver.',
  },
  DNS_DNSSEC: {
    ...envTypes.boolean(),
    default: 'true',
    description:
      'Sign the zone (BIND’s `dnssec-policy default`: one ECDSA P-256 key, rolled by named). The keys live in DNS_STATE_DIR/keys; `ctl --service dns ds` prints the DS record for the parent zone. Turning it off moves the zone to insecure gracefully.',
  },
  DNS_PORT: { ...envTypes.port(), default: '53', description: 'DNS over UDP and TCP, on every address.' },
  DNS_SECONDARIES: {
    ...ipList(),
    optional: true,
    description:
      'Secondary servers allowed to transfer the zone (AXFR/IXFR), signed with the transfer TSIG key (DNS_TRANSFER_KEY_NAME); they are notified of every change. Nobody else may transfer it.',
  },
  DNS_UPDATE_KEY_NAME: {
    ...keyName(),
    default: 'acme-update',
    description:
      'The TSIG key for RFC 2136 updates (the certificates service’s ACME_TSIG_KEY_NAME). It is generated on the first start and kept in DNS_STATE_DIR/tsig (`NAME.key` for BIND tools, `NAME.secret` for ACME_TSIG_SECRET_FILE; 0640, group certgroup). It may change only `_acme-challenge` TXT records of the zone’s own names.',
  },
  DNS_TRANSFER_KEY_NAME: {
    ...keyName(),
    default: 'transfer',
    description:
      'The TSIG key secondaries sign zone transfers with; generated on the first start, kept next to the update key.',
  },
  DNS_CAA_ISSUER: {
    ...envTypes.hostname(),
    default: 'letsencrypt.org',
    description: 'The certificate authority the zone’s CAA record allows.',
  },
  DNS_DMARC: {
    // One line of text: a quote, a backslash or a new line would break out of the zone file's TXT string.
    ...envTypes.text({
      pattern: /^v=DMARC1;[^"\\\p{Cc}]*$/u,
      expected: 'a DMARC policy starting with v=DMARC1; on one line, without quotes, backslashes or control characters',
    }),
    default: 'v=DMARC1; p=quarantine; adkim=s; aspf=s',
    description: 'The `_dmarc` TXT record.',
  },
  DNS_RATE_LIMIT: {
    ...envTypes.integer({ min: 0, max: 10_000 }),
    default: '20',
    description:
      'Response-rate limiting: identical answers per second to one client network (0 turns it off). The recursion clients are exempt.',
  },
  DNS_RNDC_PORT: {
    ...envTypes.port(),
    default: '953',
    description: 'named’s control channel, on 127.0.0.1 only (a key generated at every start); unique in the pod.',
  },
  DNS_DKIM_KEY_NAME: {
    ...keyName(),
    default: 'dkim-update',
    description:
      'The TSIG key the mail service publishes its DKIM record with (RFC 2136); made on the first start next to the update key (`NAME.key`, 0640, group certgroup). It may change only `*._domainkey` TXT records of the zone.',
  },
  DNS_DKIM_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/dkim',
    description:
      'Where the mail service publishes its DKIM key as `SELECTOR.txt` (the TXT data); the zone carries `SELECTOR._domainkey` once one is there (read at every start and reload).',
  },
  DNS_STATE_DIR: {
    ...envTypes.absolutePath(),
    default: '/data/state/dns',
    description: 'The zone with its dynamic records, the DNSSEC keys and the TSIG keys: keep it on a volume.',
  },
  DNS_RUN_DIR: {
    ...envTypes.absolutePath(),
    default: '/run/podserve-dns',
    description: 'named’s private runtime directory: the rendered configuration sets, the rndc key, its working files.',
  },
});

export type DnsEnv = EnvValues<typeof dnsEnv>;
