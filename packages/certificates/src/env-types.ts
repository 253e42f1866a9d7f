import type { envTypes } from '@podserve/runtime';
import * as v from 'valibot';

type EnvType<T> = envTypes.EnvType<T>;

/** Let's Encrypt's directories: operators should not have to copy these URLs around. */
export const LETS_ENCRYPT = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

/** An https directory URL, or `production` / `staging` (Let's Encrypt), resolved to the URL. */
export function acmeDirectory(): EnvType<string> {
  const expected = 'expected an https:// ACME directory URL, or production or staging';
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.trim()),
      v.transform((s) => (s === 'production' || s === 'staging' ? LETS_ENCRYPT[s] : s)),
      v.check((s) => {
        try {
          const url = new URL(s);
          return url.protocol === 'https:' && url.hostname !== '';
        } catch {
          return false;
        }
      }, expected),
    ),
    type: 'URL \\| production \\| staging',
  };
}

const HOST_RE =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\])$/i;

/** `host`, `host:port` or `[v6]:port` of a DNS server; the port defaults to 53. */
export function dnsServer(): EnvType<{ host: string; port: number }> {
  const expected = 'expected a DNS server as host or host:port (e.g. 127.0.0.1:53)';
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) => {
        const m = /^(.*?)(?::(\d{1,5}))?$/.exec(s.trim());
        const host = (m?.[1] ?? '').replace(/^\[(.*)\]$/, '[$1]');
        return { host, port: m?.[2] === undefined ? 53 : Number(m[2]) };
      }),
      v.check((d) => HOST_RE.test(d.host) && d.port >= 1 && d.port <= 65535, expected),
      v.transform((d) => ({ host: d.host.replace(/^\[(.*)\]$/, '$1'), port: d.port })),
    ),
    type: 'host[:port]',
  };
}

/** A user or group: a name as in /etc/passwd or /etc/group, or a numeric id. Existence is checked in validate(). */
export function ownerName(): EnvType<string> {
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.trim()),
      v.regex(/^(?:\d+|[a-z_][a-z0-9_.-]*\$?)$/i, 'expected a user/group name or a numeric id'),
    ),
    type: 'name or id',
  };
}
