import { isIP } from 'node:net';
import type { envTypes } from '@podserve/runtime';
import * as v from 'valibot';

const split = (s: string) => s.split(/[\s,]+/).filter((e) => e !== '');

/** A comma-separated list whose entries are each checked; the error names the first bad one. */
function list<T>(
  what: string,
  example: string,
  problem: (entry: string) => string | undefined,
  convert: (entry: string) => T,
): envTypes.EnvType<T[]> {
  return {
    schema: v.pipe(
      v.string(),
      v.transform(split),
      v.check(
        (entries) => entries.length > 0 && entries.every((e) => problem(e) === undefined),
        (issue) => {
          const entries = issue.input as string[];
          if (entries.length === 0) return `expected ${what} (e.g. ${example}); found an empty list`;
          const bad = entries.find((e) => problem(e) !== undefined) ?? '';
          return `expected ${what}, comma-separated (e.g. ${example}); "${bad}" ${problem(bad)}`;
        },
      ),
      v.transform((entries) => entries.map(convert)),
    ),
    type: what,
  };
}

/** IPv4 and IPv6 addresses: the pod's public addresses, forwarders, secondaries. */
export function ipList(): envTypes.EnvType<string[]> {
  return list(
    'IP addresses',
    '192.0.2.10, 2001:db8::10',
    (e) => (isIP(e) === 0 ? 'is not an IPv4 or IPv6 address' : undefined),
    (e) => e,
  );
}

/** Resolvers: `ADDRESS` or `ADDRESS#PORT` (dig's notation), rendered as BIND's `ADDRESS port PORT`. */
export function serverList(): envTypes.EnvType<string[]> {
  return list(
    'resolver addresses, ADDRESS or ADDRESS#PORT',
    '192.0.2.53, 2001:db8::53#5353',
    (e) => {
      const [address, port, extra] = e.split('#');
      if (isIP(address ?? '') === 0 || extra !== undefined) return 'is not an address (or ADDRESS#PORT)';
      if (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535)) {
        return 'has a port outside 1 to 65535';
      }
      return undefined;
    },
    (e) => e.replace('#', ' port '),
  );
}

/** BIND address-match entries limited to what is safe to say here: addresses and prefixes, or `none`. */
export function clientList(): envTypes.EnvType<string[]> {
  return list(
    'addresses or prefixes (or none)',
    '127.0.0.0/8, ::1, 192.0.2.0/24',
    (e) => {
      if (e === 'none') return undefined;
      if (e === 'any') return 'would make an open resolver: name the clients (0.0.0.0/0 if you really mean it)';
      const [address, prefix, extra] = e.split('/');
      const family = isIP(address ?? '');
      if (family === 0 || extra !== undefined) return 'is not an address or address/prefix';
      if (prefix === undefined) return undefined;
      const max = family === 4 ? 32 : 128;
      return /^\d+$/.test(prefix) && Number(prefix) <= max ? undefined : `has a prefix length outside 0 to ${max}`;
    },
    (e) => e,
  );
}

/** A TSIG key name as BIND takes it: a DNS name, lower case. */
export function keyName(): envTypes.EnvType<string> {
  return {
    schema: v.pipe(
      v.string(),
      v.regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, (issue) => {
        return `expected a key name (lower-case letters, digits, hyphens, dots, e.g. acme-update); found "${issue.input as string}"`;
      }),
    ),
    type: 'key name',
  };
}
