import type { CommonSettings } from '@podserve/runtime';
import type { ApacheEnv, ProxyRoute } from './config.js';

/** The end of a stop kept for apache's fast stop (SIGTERM: workers ended, then apache exits). */
export const FAST_STOP_MS = 2_000;

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
  /** The whole stop may take this long (the runtime's budget from STOP_GRACE_PERIOD). */
  stopBudgetMs: number;
  /** apache's GracefulShutdownTimeout: the budget less the fast stop's share, in whole seconds. */
  gracefulStopSeconds: number;
}

export function apacheSettings(
  env: ApacheEnv,
  common: Pick<CommonSettings, 'environment' | 'stopBudgetMs'>,
): ApacheSettings {
  const { environment, stopBudgetMs } = common;
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
    stopBudgetMs,
    gracefulStopSeconds: Math.max(1, Math.floor((stopBudgetMs - FAST_STOP_MS) / 1_000)),
  };
}
