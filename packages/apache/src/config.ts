import { defineEnv, type EnvValues, envTypes } from '@podserve/runtime';
import * as v from 'valibot';

/** `/path=http://127.0.0.1:PORT[/path]`: a route from this site to another service of the pod. */
export interface ProxyRoute {
  path: string;
  target: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Comma-separated routes; only loopback targets: in a pod every service is on 127.0.0.1. */
function proxyRoutes(): envTypes.EnvType<ProxyRoute[]> {
  const problem = (entry: string): string | undefined => {
    const eq = entry.indexOf('=');
    if (eq <= 0) return `"${entry}" is not PATH=URL`;
    const path = entry.slice(0, eq);
    const target = entry.slice(eq + 1);
    if (!/^\/[A-Za-z0-9._~\-/]*$/.test(path))
      return `"${path}" is not a URL path (it starts with / and has no spaces or quotes)`;
    if (path === '/' || path.startsWith('/.well-known/'))
      return `"${path}" is reserved (the site root, or ACME's /.well-known/)`;
    if (!/^[A-Za-z0-9._~:/?#[\]@!&()*+,;=%-]+$/.test(target))
      return `"${target}" has characters a URL here may not have (quotes, spaces)`;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return `"${target}" is not a URL`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${target}" is not http:// or https://`;
    if (!LOOPBACK.has(url.hostname)) return `"${target}" is not on 127.0.0.1 (routes go to services of the pod)`;
    if (!url.port) return `"${target}" has no port`;
    if (path.endsWith('/') !== target.endsWith('/'))
      return `"${entry}": end both the path and the URL with /, or neither`;
    return undefined;
  };
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.split(/[\s,]+/).filter((e) => e !== '')),
      v.check(
        (entries) => entries.every((e) => problem(e) === undefined),
        (issue) => {
          const bad = (issue.input as string[]).find((e) => problem(e) !== undefined) ?? '';
          return `expected routes such as /app=http://127.0.0.1:3000, comma-separated; ${problem(bad)}`;
        },
      ),
      v.transform((entries) =>
        entries.map((e) => ({ path: e.slice(0, e.indexOf('=')), target: e.slice(e.indexOf('=') + 1) })),
      ),
    ),
    type: 'PATH=URL list',
  };
}

/** The web service's environment: validated at once, documented from here. */
export const apacheEnv = defineEnv({
  DOMAIN: {
    ...envTypes.hostname(),
    devDefault: 'podserve.test',
    description: 'The site’s primary name (ServerName): its certificate must cover it.',
  },
  WEB_NAMES: {
    ...envTypes.hostnameList(),
    optional: true,
    description:
      'Every name the site answers to. Default: DOMAIN and www.DOMAIN. A name the certificate does not cover is served with a warning in the log. Any other name (Host header, absolute request target or TLS SNI) gets 421 Misdirected Request.',
  },
  CERT_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/certificates',
    description:
      'The certificates volume (read-only is enough). apache serves the newest generation that covers DOMAIN.',
  },
  WEB_ROOT: {
    ...envTypes.absolutePath(),
    default: '/data/www',
    description: 'Static files. While it is missing or empty, a built-in index page is served.',
  },
  HTTP_PORT: {
    ...envTypes.port(),
    default: '80',
    description:
      'Plain HTTP: answers 301 to HTTPS for the site’s names (503 until the first certificate is published) and 421 for any other; /.well-known/acme-challenge/ is proxied to ACME_HTTP_PORT for every name, from the start.',
  },
  HTTPS_PORT: { ...envTypes.port(), default: '443', description: 'HTTPS (TLS 1.2 and 1.3, HTTP/2).' },
  HSTS_MAX_AGE: {
    ...envTypes.integer({ min: 0, max: 63_072_000 }),
    optional: true,
    description:
      'Strict-Transport-Security max-age in seconds. Default: 63072000 (2 years) in production, 300 in development, so a test name is not pinned to HTTPS for long.',
  },
  WEB_PROXY_ROUTES: {
    ...proxyRoutes(),
    optional: true,
    description:
      'Reverse-proxy routes to other services of the pod, comma-separated `PATH=URL` (e.g. `/app=http://127.0.0.1:3000`); targets must be on 127.0.0.1.',
  },
  WEB_EXTRA_CONF: {
    ...envTypes.absolutePath(),
    optional: true,
    description:
      'A file of apache directives added to the HTTPS site (e.g. `Redirect`, `Header`, `Alias`). Read at every start, SIGHUP and `ctl reload`, and checked with `apache2 -t` first: a bad one is refused and the running configuration stays.',
  },
  ACME_HTTP_PORT: {
    ...envTypes.port(),
    default: '8402',
    description:
      'Port of the certificates service’s HTTP-01 responder on 127.0.0.1 (set the same ACME_HTTP_PORT there): apache proxies /.well-known/acme-challenge/ to it.',
  },
  APACHE_RUN_DIR: {
    ...envTypes.absolutePath(),
    default: '/run/podserve-apache',
    description: 'apache’s private runtime directory: the rendered configuration sets, pid file, TLS session cache.',
  },
});

export type ApacheEnv = EnvValues<typeof apacheEnv>;
