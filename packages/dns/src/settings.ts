import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import type { DnsEnv } from './config.js';
import type { ZoneRecord } from './records.js';

/** Where the service keeps what it owns. */
export interface DnsPaths {
  /** The zone as named loads and updates it, with its journal (bind-owned). */
  zonesDir: string;
  zoneFile: string;
  /** The static part last installed (what the configuration rendered), to see what changed. */
  renderedFile: string;
  /** DNSSEC keys (bind-owned, 0700). */
  keysDir: string;
  /** TSIG keys: 0640, group certgroup, so the certificates container can read the update key. */
  tsigDir: string;
  updateKey: string;
  updateSecret: string;
  transferKey: string;
  /** The mail service's key for its DKIM record (RFC 2136). */
  dkimKey: string;
  /** Made afresh at every start: only this container's rndc needs it. */
  rndcKey: string;
  /** Made afresh at every start: the control actions sign their updates with it. */
  controlKey: string;
  /** named's `directory`: managed keys and other scratch files. */
  workDir: string;
  /** The ConfigSet root: named reads `confRoot/current/named.conf`. */
  confRoot: string;
}

/** What the templates and the service need, derived once from the environment. */
export interface DnsSettings {
  zone: string;
  addresses: { v4: string[]; v6: string[] };
  records: ZoneRecord[];
  snippetFile: string | undefined;
  forwarders: string[];
  /** Empty: no recursion at all. */
  recursionClients: string[];
  dnssec: boolean;
  port: number;
  secondaries: string[];
  updateKeyName: string;
  transferKeyName: string;
  dkimKeyName: string;
  caaIssuer: string;
  dmarc: string;
  rateLimit: number;
  rndcPort: number;
  dkimPath: string;
  paths: DnsPaths;
}

export function dnsSettings(env: DnsEnv): DnsSettings {
  const zone = env.DNS_ZONE ?? env.DOMAIN;
  const addresses = env.DNS_ADDRESSES ?? ['127.0.0.1'];
  const state = env.DNS_STATE_DIR;
  const tsigDir = join(state, 'tsig');
  return {
    zone,
    addresses: { v4: addresses.filter((a) => isIPv4(a)), v6: addresses.filter((a) => !isIPv4(a)) },
    records: env.DNS_RECORDS ?? [],
    snippetFile: env.DNS_ZONE_SNIPPET,
    forwarders: env.DNS_FORWARDERS ?? [],
    recursionClients: env.DNS_RECURSION_CLIENTS.filter((c) => c !== 'none'),
    dnssec: env.DNS_DNSSEC,
    port: env.DNS_PORT,
    secondaries: env.DNS_SECONDARIES ?? [],
    updateKeyName: env.DNS_UPDATE_KEY_NAME,
    transferKeyName: env.DNS_TRANSFER_KEY_NAME,
    dkimKeyName: env.DNS_DKIM_KEY_NAME,
    caaIssuer: env.DNS_CAA_ISSUER,
    dmarc: env.DNS_DMARC,
    rateLimit: env.DNS_RATE_LIMIT,
    rndcPort: env.DNS_RNDC_PORT,
    dkimPath: env.DNS_DKIM_PATH,
    paths: {
      zonesDir: join(state, 'zones'),
      zoneFile: join(state, 'zones', `db.${zone}`),
      renderedFile: join(state, 'zones', `rendered.${zone}`),
      keysDir: join(state, 'keys'),
      tsigDir,
      updateKey: join(tsigDir, `${env.DNS_UPDATE_KEY_NAME}.key`),
      updateSecret: join(tsigDir, `${env.DNS_UPDATE_KEY_NAME}.secret`),
      transferKey: join(tsigDir, `${env.DNS_TRANSFER_KEY_NAME}.key`),
      dkimKey: join(tsigDir, `${env.DNS_DKIM_KEY_NAME}.key`),
      rndcKey: join(env.DNS_RUN_DIR, 'rndc.key'),
      controlKey: join(env.DNS_RUN_DIR, 'control.key'),
      workDir: join(env.DNS_RUN_DIR, 'work'),
      confRoot: join(env.DNS_RUN_DIR, 'conf'),
    },
  };
}
