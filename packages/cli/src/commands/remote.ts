import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { ErrorResponse } from '@podserve/protocol';
import { checkProtocolVersion, PROTOCOL_HEADER } from '@podserve/protocol/wire';
import { ControlRequestError, ControlUnavailable } from '@podserve/runtime/control';
import { UsageError } from '@podserve/runtime/errors';

/** The pod's API, as `ctl --url` reaches it: one base URL, a bearer token, the CA to trust. */
export interface RemoteTarget {
  url: URL;
  token: string;
  ca: string | undefined;
  /** The name the certificate must carry (and the SNI), when the URL's host is an address. */
  servername: string | undefined;
}

/** 401 or 403: the token is missing, wrong, or its scope too low. */
export class NotAllowed extends ControlRequestError {}
/** 429: too many failed attempts from this address; `retryAfter` seconds. */
export class RateLimited extends ControlRequestError {
  constructor(
    message: string,
    readonly retryAfter: number,
  ) {
    super(429, 'rate_limited', message);
  }
}

/**
 * Reads --url / --token-file / --cacert, or PODSERVE_API_URL, PODSERVE_API_TOKEN_FILE and
 * PODSERVE_CA_FILE (what `scripts/pod.sh env` prints), as kubectl and docker read theirs.
 * Each mistake is named with what was expected; the token itself is never shown.
 */
export function remoteTarget(
  flags: { url?: string; 'token-file'?: string; cacert?: string; servername?: string },
  env: NodeJS.ProcessEnv,
): RemoteTarget | undefined {
  const raw = flags.url ?? env.PODSERVE_API_URL;
  if (raw === undefined || raw === '') return undefined;
  const from = flags.url !== undefined ? '--url' : 'PODSERVE_API_URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`ctl: ${from} must be a URL such as https://127.0.0.1:8443; found "${raw.slice(0, 200)}"`);
  }
  if (url.protocol !== 'https:') {
    throw new UsageError(`ctl: ${from} must be https:// (the API speaks only HTTPS); found "${url.protocol}//"`);
  }
  if (url.username || url.password) {
    throw new UsageError(`ctl: ${from} must not carry credentials; give the token with --token-file`);
  }
  const tokenFile = flags['token-file'] ?? env.PODSERVE_API_TOKEN_FILE;
  if (!tokenFile) {
    throw new UsageError('ctl: talking to the API needs a token: --token-file FILE or PODSERVE_API_TOKEN_FILE');
  }
  const token = readSmallFile(
    tokenFile,
    flags['token-file'] !== undefined ? '--token-file' : 'PODSERVE_API_TOKEN_FILE',
  ).trim();
  if (token === '' || /\s/.test(token)) {
    throw new UsageError(`ctl: the token file ${tokenFile} must hold one token on one line (its content is not shown)`);
  }
  const caFile = flags.cacert ?? (env.PODSERVE_CA_FILE || undefined);
  const ca = caFile ? readSmallFile(caFile, flags.cacert !== undefined ? '--cacert' : 'PODSERVE_CA_FILE') : undefined;
  // kubectl's tls-server-name: https://127.0.0.1:8443 with a certificate for the pod's domain.
  const servername = flags.servername ?? (env.PODSERVE_API_SERVERNAME || undefined);
  return { url, token, ca, servername };
}

function readSmallFile(path: string, from: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`ctl: ${from} names ${path}, which cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** A path under the API's base, e.g. `/api/v1/status`. */
function target(t: RemoteTarget, path: string): URL {
  return new URL(path, t.url);
}

/** What a failed TLS or TCP connection means to the person running ctl. */
function connectionProblem(t: RemoteTarget, err: NodeJS.ErrnoException): ControlUnavailable {
  const where = t.url.origin;
  const tls = [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_HAS_EXPIRED',
  ];
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ControlUnavailable(
      `the API at ${where} presented a certificate for other names (${err.code}): use a URL with the pod's domain, or pass --servername DOMAIN (scripts/pod.sh env sets PODSERVE_API_SERVERNAME)`,
    );
  }
  if (err.code && tls.includes(err.code)) {
    return new ControlUnavailable(
      `the API at ${where} presented a certificate this ctl does not trust (${err.code}): pass --cacert FILE with the pod's CA (scripts/pod.sh env sets PODSERVE_CA_FILE)`,
    );
  }
  if (err.code === 'ECONNREFUSED')
    return new ControlUnavailable(`nothing answers at ${where} (ECONNREFUSED): is the pod's api running?`);
  if (err.code === 'ENOTFOUND') return new ControlUnavailable(`${t.url.hostname} does not resolve (ENOTFOUND)`);
  return new ControlUnavailable(`${where}: ${err.message}`);
}

/** One JSON request to the API; the errors ctl maps to exit codes. */
export function remoteRequest<T>(
  t: RemoteTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 15 * 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      target(t, path),
      {
        method,
        ca: t.ca,
        servername: t.servername,
        timeout: timeoutMs,
        headers: {
          authorization: `Bearer ${t.token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            checkProtocolVersion(res.headers[PROTOCOL_HEADER], t.url.origin);
          } catch (err) {
            reject(err);
            return;
          }
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            reject(new ControlRequestError(status, 'failed', `not JSON from ${t.url.origin}: ${text.slice(0, 200)}`));
            return;
          }
          if (status >= 200 && status < 300) {
            resolve(parsed as T);
            return;
          }
          const error = (parsed as ErrorResponse).error ?? { code: 'failed', message: text };
          if (status === 401 || status === 403) reject(new NotAllowed(status, error.code, error.message));
          else if (status === 429) reject(new RateLimited(error.message, Number(res.headers['retry-after'] ?? 60)));
          else reject(new ControlRequestError(status, error.code, error.message));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(connectionProblem(t, err)));
    req.end(payload);
  });
}

/** A service's log as the API streams it (Server-Sent Events), each record's JSON to `onLine`. */
export function remoteLogStream(
  t: RemoteTarget,
  service: string,
  lines: string,
  follow: boolean,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const query = new URLSearchParams({ lines, ...(follow ? { follow: '1' } : {}) });
  return new Promise((resolve, reject) => {
    const req = request(
      target(t, `/api/v1/services/${encodeURIComponent(service)}/logs?${query}`),
      {
        ca: t.ca,
        servername: t.servername,
        signal,
        headers: { authorization: `Bearer ${t.token}`, accept: follow ? 'text/event-stream' : 'application/x-ndjson' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let message = text;
            try {
              message = (JSON.parse(text) as ErrorResponse).error.message;
            } catch {
              // the raw text
            }
            reject(
              status === 401 || status === 403
                ? new NotAllowed(status, 'unauthorized', message)
                : new ControlRequestError(status, 'failed', message),
            );
          });
          return;
        }
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const parts = (rest + chunk).split(follow ? '\n\n' : '\n');
          rest = parts.pop() ?? '';
          for (const part of parts) {
            if (!follow) {
              // NDJSON of {id, record}: the record, as the local socket gives it.
              const m = /^\{"id":"[^"]+","record":(.*)\}$/.exec(part);
              if (part) onLine(m ? (m[1] as string) : part);
              continue;
            }
            const event = /^event: (.*)$/m.exec(part)?.[1];
            const data = /^data: (.*)$/m.exec(part)?.[1];
            if (event === 'log' && data) onLine(data);
            else if ((event === 'end' || event === 'gap') && data)
              process.stderr.write(`ctl logs: ${event}: ${data}\n`);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') resolve();
      else reject(connectionProblem(t, err));
    });
    req.end();
  });
}
