import type { ApacheEnv, ProxyRoute } from './config.js';

/** What the templates and the service need, derived once from the environment. */
export interface ApacheSettings {
  domain: string;
  /** ServerName first, then the aliases. */
  names: string[];
  certPath: string;
  webRoot: string;
  httpPort: number;
  httpsPort: number;
  hstsMaxAge: number;
  routes: ProxyRoute[];
  acmeHttpPort: number;
  runDir: string;
  extraConf: string | undefined;
}

export function apacheSettings(env: ApacheEnv, environment: 'development' | 'production'): ApacheSettings {
  const names = env.WEB_NAMES ?? [env.DOMAIN, `www.${env.DOMAIN}`];
  return {
    domain: env.DOMAIN,
    names: [env.DOMAIN, ...names.filter((n) => n !== env.DOMAIN)],
    certPath: env.CERT_PATH,
    webRoot: env.WEB_ROOT,
    httpPort: env.HTTP_PORT,
    httpsPort: env.HTTPS_PORT,
    hstsMaxAge: env.HSTS_MAX_AGE ?? (environment === 'production' ? 63_072_000 : 300),
    routes: env.WEB_PROXY_ROUTES ?? [],
    acmeHttpPort: env.ACME_HTTP_PORT,
    runDir: env.APACHE_RUN_DIR,
    extraConf: env.WEB_EXTRA_CONF,
  };
}
