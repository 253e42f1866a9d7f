import { defineEnv, type EnvValues, envTypes } from '@podserve/runtime';
import { acmeDirectory, dnsServer, ownerName } from './env-types.js';
import { KEY_TYPES } from './keys.js';

/**
 * The certificates service's environment, declared once: the runtime parses it (every bad value
 * reported at once, exit 78, nothing touched), generates the reference table and redacts secrets.
 */
export const certificatesEnv = defineEnv({
  DOMAIN: {
    ...envTypes.hostname(),
    devDefault: 'podserve.test',
    description: 'The primary name of the certificate (its subject CN and first SAN).',
  },
  CERT_SANS: {
    ...envTypes.hostnameList({ wildcards: true }),
    optional: true,
    description:
      'Extra names, comma- or space-separated (e.g. `www.example.com, mail.example.com`). A `*.` wildcard needs `ACME_CHALLENGE=dns-01`.',
  },
  CERT_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/certificates',
    description:
      'The published directory (shared volume). Stable paths `cert.pem`, `privkey.pem`, `fullchain.pem`, `chain.pem`, `combined.pem`, `ca.pem` point through `current` into the active generation.',
  },
  CERT_ISSUER: {
    ...envTypes.oneOf(['selfsigned', 'acme'] as const),
    default: 'selfsigned',
    description:
      'selfsigned: a local CA (persisted, reused) signs the leaf; acme: an ACME CA (Let’s Encrypt) issues it.',
  },
  CERT_KEY_TYPE: {
    ...envTypes.oneOf(KEY_TYPES),
    optional: true,
    description:
      'Key of the leaf certificate. Default ecdsa-p256 for acme, rsa2048 for selfsigned (node-forge signs RSA only, so ECDSA falls back to rsa2048 there).',
  },
  CERT_RENEW_BEFORE: {
    ...envTypes.duration(),
    optional: true,
    description:
      'Renew when less than this remains. Default: 1/3 of the lifetime (1/2 for lifetimes of 10 days or less), minus a small jitter.',
  },
  CERT_WARN_BEFORE: {
    ...envTypes.duration(),
    optional: true,
    description:
      'Readiness turns not-ready and an error is logged when the published certificate expires within this. Default: 1/6 of its lifetime.',
  },
  CERT_RETRY_MIN: {
    ...envTypes.duration(),
    default: '1m',
    description: 'First retry delay after a failed issuance; it grows 1, 2, 5, 10, 20, 30, 60, … × this.',
  },
  CERT_RETRY_MAX: {
    ...envTypes.duration(),
    default: '6h',
    description: 'Longest retry delay after repeated failures (the CA is never hammered).',
  },
  CERT_SELFSIGNED_VALIDITY: {
    ...envTypes.duration(),
    default: '90d',
    description: 'Lifetime of a self-signed leaf (the local CA lives 10 years).',
  },
  CERT_KEEP_GENERATIONS: {
    ...envTypes.integer({ min: 1, max: 100 }),
    default: '3',
    description: 'Older generations kept under `generations/` besides the current one; older ones are pruned.',
  },
  CERT_OWNER: {
    ...ownerName(),
    default: 'root',
    description: 'Owner (name or uid) of the published files.',
  },
  CERT_GROUP: {
    ...ownerName(),
    default: 'certgroup',
    description:
      'Group (name or gid) that may read the private keys (mode 0640). When the default `certgroup` does not exist here, gid 9999 is used.',
  },
  LE_EMAIL: {
    ...envTypes.email(),
    optional: true,
    description: 'ACME account contact. Required with CERT_ISSUER=acme.',
  },
  ACME_DIRECTORY_URL: {
    ...acmeDirectory(),
    default: 'production',
    description:
      'ACME directory: an https URL, or the shortcuts `production` / `staging` (Let’s Encrypt). Changing it issues a new certificate.',
  },
  ACME_CA_FILE: {
    ...envTypes.absolutePath(),
    optional: true,
    description: 'PEM file of extra CAs to trust for the ACME server’s own TLS (a private ACME server such as pebble).',
  },
  ACME_CHALLENGE: {
    ...envTypes.oneOf(['http-01', 'dns-01', 'tls-alpn-01'] as const),
    default: 'http-01',
    description:
      'http-01: answered on ACME_HTTP_PORT; dns-01: TXT records through RFC 2136 updates (wildcards); tls-alpn-01: answered on ACME_TLS_PORT.',
  },
  ACME_HTTP_PORT: {
    ...envTypes.port(),
    default: '80',
    description:
      'Port of the built-in HTTP-01 responder, open only while an order is validated. In a pod apache owns 80 and proxies `/.well-known/acme-challenge/` here.',
  },
  ACME_TLS_PORT: {
    ...envTypes.port(),
    default: '443',
    description: 'Port of the built-in TLS-ALPN-01 responder (only with ACME_CHALLENGE=tls-alpn-01).',
  },
  ACME_TIMEOUT: {
    ...envTypes.duration(),
    default: '30s',
    description: 'Timeout of every single request to the ACME server and of each DNS update.',
  },
  ACME_DNS_SERVER: {
    ...dnsServer(),
    optional: true,
    description:
      'RFC 2136 primary for DNS-01 updates, `host` or `host:port` (port 53 by default). Required with dns-01.',
  },
  ACME_DNS_ZONE: {
    ...envTypes.hostname(),
    optional: true,
    description: 'Zone to update; default: found by nsupdate from the SOA.',
  },
  ACME_TSIG_KEY_NAME: {
    ...envTypes.hostname(),
    optional: true,
    description: 'TSIG key name for DNS-01 updates.',
  },
  ACME_TSIG_ALGORITHM: {
    ...envTypes.oneOf(['hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'hmac-sha224', 'hmac-sha1', 'hmac-md5'] as const),
    default: 'hmac-sha256',
    description: 'TSIG algorithm.',
  },
  ACME_TSIG_SECRET: {
    // 16 bytes is the least a TSIG key should have (tsig-keygen makes 32 for hmac-sha256).
    ...envTypes.base64({ minBytes: 16, what: 'a TSIG secret' }),
    optional: true,
    secret: true,
    description: 'TSIG secret: base64 of at least 16 bytes, as in a BIND `key` clause (`tsig-keygen` makes one).',
  },
  ACME_DNS_PROPAGATION: {
    ...envTypes.duration(),
    default: '0s',
    description: 'Wait this long after the DNS update before asking the CA to validate (secondaries catching up).',
  },
});

export type CertificatesEnv = EnvValues<typeof certificatesEnv>;
