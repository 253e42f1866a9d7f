import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Logger } from '@podserve/runtime';
import type acmeClient from 'acme-client';
import type { AxiosAdapter } from 'axios';
import axiosModule from 'axios/dist/node/axios.cjs';

type Acme = typeof acmeClient;

interface AcmeSettingsHolder {
  acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number };
}

/** Per ACME origin: the https agent trusting ACME_CA_FILE (acme-client has one shared axios). */
const agents = new Map<string, https.Agent>();
/** Per origin: no request before this time (the CA answered 429 with Retry-After). */
const rateLimitedUntil = new Map<string, number>();
let installed = false;
let currentLog: Logger | undefined;

/** A network failure (no HTTP response), with the errno code and the request it belonged to. */
export class AcmeNetworkError extends Error {
  override readonly name = 'AcmeNetworkError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Wraps axios's http adapter so a request that got no response rejects with an error that has
 * no `config`: acme-client's response interceptor then passes it through untouched. Without
 * this, the interceptor dereferences the missing response and every "connection refused"
 * surfaces as "Cannot read properties of undefined (reading 'config')".
 */
function networkErrorsReadable(): AxiosAdapter {
  const http = axiosModule.getAdapter('http');
  return async (config) => {
    try {
      return await http(config);
    } catch (err) {
      const e = err as { response?: unknown; code?: string; message?: string };
      if (e.response) throw err;
      const where = `${(config.method ?? 'get').toUpperCase()} ${config.url ?? '?'}`;
      throw new AcmeNetworkError(`${e.code ?? 'network error'}: ${e.message ?? String(err)} (${where})`, e.code);
    }
  };
}

/**
 * acme-client talks through one process-wide axios instance with no timeout and with its
 * own retries (5 attempts, 5 s × n apart, and any Retry-After, even hours). We want every
 * request bounded, retries decided by us (the backoff persists across restarts), and a
 * private CA trusted only for its own origin, so this configures that instance once.
 */
export function configureTransport(
  acme: Acme,
  directoryUrl: string,
  caPem: string | undefined,
  timeoutMs: number,
  log: Logger,
): void {
  currentLog = log;
  const axios = acme.axios;
  axios.defaults.timeout = timeoutMs;
  (axios.defaults as unknown as AcmeSettingsHolder).acmeSettings.retryMaxAttempts = 0;
  const origin = new URL(directoryUrl).origin;
  if (caPem && !agents.has(origin)) {
    agents.set(origin, new https.Agent({ ca: [...rootCertificates, caPem], keepAlive: true, timeout: timeoutMs }));
  }
  if (installed) return;
  installed = true;
  axios.defaults.adapter = networkErrorsReadable();
  acme.setLogger((message) => currentLog?.debug({ acme: message }, `acme-client: ${message}`));
  axios.interceptors.request.use((config) => {
    if (config.url) {
      const agent = agents.get(new URL(config.url).origin);
      if (agent) config.httpsAgent = agent;
    }
    return config;
  });
  axios.interceptors.response.use((response) => {
    if (response.status === 429 && response.config.url) {
      const seconds = retryAfterSeconds(response.headers['retry-after']);
      const until = Date.now() + (seconds ?? 3600) * 1000;
      rateLimitedUntil.set(new URL(response.config.url).origin, until);
      currentLog?.warn({ url: response.config.url, retryAfter: seconds }, 'the ACME server rate-limited us (HTTP 429)');
    }
    return response;
  });
}

function retryAfterSeconds(header: unknown): number | undefined {
  if (typeof header !== 'string') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.round((at - Date.now()) / 1000));
}

/** When the CA last asked us to come back (for the directory's origin), if still in the future. */
export function rateLimitFor(directoryUrl: string): Date | undefined {
  const until = rateLimitedUntil.get(new URL(directoryUrl).origin);
  return until !== undefined && until > Date.now() ? new Date(until) : undefined;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Network trouble or a 5xx: worth a quick retry inside one attempt. A CA "no" (4xx) is not. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code && TRANSIENT_CODES.has(code)) return true;
  return /\b(5\d\d|socket hang up|timeout)\b/i.test((err as Error).message ?? '');
}

/** A readable message for errors axios leaves terse (e.g. just "connect ECONNREFUSED"). */
export function describeError(err: unknown): string {
  const e = err as { message?: string; config?: { url?: string; method?: string } };
  const url = e.config?.url ? ` (${e.config.method ? `${e.config.method.toUpperCase()} ` : ''}${e.config.url})` : '';
  return `${e.message ?? String(err)}${url}`;
}
