import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type CrossProblem, resolveGid, resolveUid } from '@podserve/runtime';
import { splitPemCertificates } from '@podserve/runtime/tls';
import type { CertificatesEnv } from './config.js';
import type { KeyType } from './keys.js';
import type { Ownership } from './storage/fsx.js';
import { Layout } from './storage/layout.js';
import type { IssuerKind } from './storage/meta.js';

/** GID of `certgroup` in PodServe images; used when the group is not in /etc/group. */
export const CERTGROUP_GID = 9999;

export interface DnsSettings {
  server: { host: string; port: number };
  zone: string | undefined;
  keyName: string;
  algorithm: string;
  secret: string;
  propagationMs: number;
}

export interface AcmeSettings {
  directoryUrl: string;
  email: string;
  /** PEM text of extra trusted CAs for the ACME server's TLS. */
  caPem: string | undefined;
  challenge: 'http-01' | 'dns-01' | 'tls-alpn-01';
  httpPort: number;
  tlsPort: number;
  timeoutMs: number;
  dns: DnsSettings | undefined;
}

/** Everything the service needs, derived once from the environment after the cross-checks. */
export interface Settings {
  names: string[];
  issuer: IssuerKind;
  keyType: KeyType;
  layout: Layout;
  owner: Ownership;
  keep: number;
  selfSignedValidityMs: number;
  renewBeforeMs: number | undefined;
  warnBeforeMs: number | undefined;
  retryMinMs: number;
  retryMaxMs: number;
  acme: AcmeSettings | undefined;
}

export type SettingsResult =
  | { ok: true; settings: Settings; notes: string[] }
  | { ok: false; problems: CrossProblem[] };

/**
 * The checks a per-variable schema cannot make (acme needs LE_EMAIL, wildcards need dns-01,
 * the group must exist …). Reads /etc/passwd, /etc/group and ACME_CA_FILE; writes nothing.
 */
export function deriveSettings(env: CertificatesEnv): SettingsResult {
  const problems: CrossProblem[] = [];
  const problem = (variables: string[], message: string) => problems.push({ variables, message });
  const notes: string[] = [];
  // After a per-variable problem DOMAIN may be absent (see checkEnv): the other rules still run.
  const names = [...new Set([env.DOMAIN, ...(env.CERT_SANS ?? [])])].filter((n) => n !== undefined);
  const wildcards = names.filter((n) => n.startsWith('*.'));

  let keyType: KeyType = env.CERT_KEY_TYPE ?? (env.CERT_ISSUER === 'acme' ? 'ecdsa-p256' : 'rsa2048');
  if (env.CERT_ISSUER === 'selfsigned' && !keyType.startsWith('rsa')) {
    notes.push(
      `CERT_KEY_TYPE=${keyType} is not available for self-signed certificates (node-forge signs RSA only); using rsa2048`,
    );
    keyType = 'rsa2048';
  }

  let uid = 0;
  let gid = CERTGROUP_GID;
  try {
    uid = resolveUid(env.CERT_OWNER);
  } catch (err) {
    problem(['CERT_OWNER'], `CERT_OWNER: ${(err as Error).message}`);
  }
  try {
    gid = resolveGid(env.CERT_GROUP);
  } catch (err) {
    // The image creates certgroup with gid 9999; on a host without it the number still works.
    if (env.CERT_GROUP === 'certgroup') notes.push(`group certgroup does not exist here; using gid ${CERTGROUP_GID}`);
    else problem(['CERT_GROUP'], `CERT_GROUP: ${(err as Error).message}`);
  }

  if (env.CERT_RETRY_MIN > env.CERT_RETRY_MAX) {
    problem(
      ['CERT_RETRY_MIN', 'CERT_RETRY_MAX'],
      `CERT_RETRY_MIN (${env.CERT_RETRY_MIN} ms) must not exceed CERT_RETRY_MAX (${env.CERT_RETRY_MAX} ms)`,
    );
  }
  if (env.CERT_SELFSIGNED_VALIDITY < 60_000)
    problem(['CERT_SELFSIGNED_VALIDITY'], 'CERT_SELFSIGNED_VALIDITY must be at least 1m');

  let acme: AcmeSettings | undefined;
  if (env.CERT_ISSUER === 'acme') {
    if (!env.LE_EMAIL)
      problem(['LE_EMAIL', 'CERT_ISSUER'], 'LE_EMAIL is required with CERT_ISSUER=acme (the ACME account contact)');
    if (wildcards.length > 0 && env.ACME_CHALLENGE !== 'dns-01') {
      const where = [
        ...(env.DOMAIN?.startsWith('*.') ? ['DOMAIN'] : []),
        ...(env.CERT_SANS?.some((n) => n.startsWith('*.')) ? ['CERT_SANS'] : []),
      ];
      problem(
        [...where, 'ACME_CHALLENGE'],
        `wildcard names (${wildcards.join(', ')}) need ACME_CHALLENGE=dns-01 (now ${env.ACME_CHALLENGE})`,
      );
    }
    let caPem: string | undefined;
    if (env.ACME_CA_FILE) {
      try {
        caPem = readFileSync(env.ACME_CA_FILE, 'utf8');
        const blocks = splitPemCertificates(caPem);
        if (blocks.length === 0) throw new Error('no PEM certificate in it');
        for (const b of blocks) new X509Certificate(b);
      } catch (err) {
        problem(['ACME_CA_FILE'], `ACME_CA_FILE ${env.ACME_CA_FILE}: ${(err as Error).message}`);
      }
    }
    let dns: DnsSettings | undefined;
    if (env.ACME_CHALLENGE === 'dns-01') {
      const missing = (['ACME_DNS_SERVER', 'ACME_TSIG_KEY_NAME', 'ACME_TSIG_SECRET'] as const).filter((k) => !env[k]);
      if (missing.length > 0)
        problem([...missing, 'ACME_CHALLENGE'], `ACME_CHALLENGE=dns-01 needs ${missing.join(', ')}`);
      else if (env.ACME_DNS_SERVER && env.ACME_TSIG_KEY_NAME && env.ACME_TSIG_SECRET) {
        dns = {
          server: env.ACME_DNS_SERVER,
          zone: env.ACME_DNS_ZONE,
          keyName: env.ACME_TSIG_KEY_NAME,
          algorithm: env.ACME_TSIG_ALGORITHM,
          secret: env.ACME_TSIG_SECRET,
          propagationMs: env.ACME_DNS_PROPAGATION,
        };
      }
    }
    acme = {
      directoryUrl: env.ACME_DIRECTORY_URL,
      email: env.LE_EMAIL ?? '',
      caPem,
      challenge: env.ACME_CHALLENGE,
      httpPort: env.ACME_HTTP_PORT,
      tlsPort: env.ACME_TLS_PORT,
      timeoutMs: env.ACME_TIMEOUT,
      dns,
    };
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    notes,
    settings: {
      names,
      issuer: env.CERT_ISSUER,
      keyType,
      layout: new Layout(env.CERT_PATH),
      owner: { uid, gid },
      keep: env.CERT_KEEP_GENERATIONS,
      selfSignedValidityMs: env.CERT_SELFSIGNED_VALIDITY,
      renewBeforeMs: env.CERT_RENEW_BEFORE,
      warnBeforeMs: env.CERT_WARN_BEFORE,
      retryMinMs: env.CERT_RETRY_MIN,
      retryMaxMs: env.CERT_RETRY_MAX,
      acme,
    },
  };
}

/** Changes when what we would ask a CA for changes: a new fingerprint resets the failure backoff. */
export function requestFingerprint(s: Settings): string {
  const what = [s.issuer, s.acme?.directoryUrl ?? '', s.keyType, ...[...s.names].sort()].join('\n');
  return createHash('sha256').update(what).digest('hex').slice(0, 16);
}
