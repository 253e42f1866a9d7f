import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import type { ErrorResponse } from '@podserve/protocol';
import { checkProtocolVersion, PROTOCOL_HEADER, ProtocolMismatch } from '@podserve/protocol/wire';
import { PodServeError } from '../errors.js';

export { DEFAULT_RUN_DIR } from '../health/status.js';
export { ProtocolMismatch };

/** The service did not answer at all (no socket, nobody listening). */
export class ControlUnavailable extends PodServeError {
  override readonly name = 'ControlUnavailable';
}

/** It answered with an error: `{ error: { code, message } }` and the HTTP status. */
export class ControlRequestError extends PodServeError {
  override readonly name = 'ControlRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Which socket to talk to: the one named, the service's in the run dir, or the only one
 * there (a container runs one service; the pod's shared run dir holds several).
 */
export function findControlSocket(runDir: string, service?: string): string {
  const dir = runDir.replace(/\/+$/, '');
  if (service) return `${dir}/${service}.sock`;
  let sockets: string[];
  try {
    sockets = readdirSync(dir).filter((f) => f.endsWith('.sock'));
  } catch (err) {
    throw new ControlUnavailable(
      `no control sockets in ${dir} (${(err as NodeJS.ErrnoException).code}); is a service running there?`,
    );
  }
  if (sockets.length === 1) return `${dir}/${sockets[0]}`;
  if (sockets.length === 0) throw new ControlUnavailable(`no control socket in ${dir}; is a service running there?`);
  throw new ControlUnavailable(
    `${sockets.length} services run here (${sockets.map((s) => s.slice(0, -5)).join(', ')}); name one with --service`,
  );
}

/**
 * One JSON request over the Unix socket; rejects with ControlRequestError on an error answer.
 * The default timeout is long: an action such as `renew` may take as long as an ACME order.
 */
export function controlRequest<T>(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 15 * 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        try {
          checkProtocolVersion(res.headers[PROTOCOL_HEADER], socketPath);
        } catch (err) {
          res.resume();
          reject(err);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            reject(
              new ControlRequestError(
                res.statusCode ?? 0,
                'bad_answer',
                `not JSON from ${socketPath}: ${text.slice(0, 200)}`,
              ),
            );
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else {
            const error = (parsed as ErrorResponse).error ?? { code: 'unknown', message: text };
            reject(new ControlRequestError(status, error.code, error.message));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new ControlUnavailable(`nothing answers on ${socketPath} (${err.code}); is the service running?`));
      } else if (err.code === 'EACCES') {
        reject(
          new ControlUnavailable(`not allowed to connect to ${socketPath} (EACCES): it is for root and its group`),
        );
      } else reject(new ControlUnavailable(`${socketPath}: ${err.message}`));
    });
    req.end(payload);
  });
}

/** Streams NDJSON lines (logs) until the server ends the stream or `signal` aborts. */
export function controlStream(
  socketPath: string,
  path: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path, signal }, (res) => {
      try {
        checkProtocolVersion(res.headers[PROTOCOL_HEADER], socketPath);
      } catch (err) {
        res.resume();
        reject(err);
        return;
      }
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let message = text;
          try {
            message = (JSON.parse(text) as ErrorResponse).error.message;
          } catch {
            // keep the raw text
          }
          reject(new ControlRequestError(res.statusCode ?? 0, 'error', message));
        });
        return;
      }
      let rest = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line) onLine(line);
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') resolve();
      else reject(new ControlUnavailable(`nothing answers on ${socketPath} (${err.code ?? err.message})`));
    });
    req.end();
  });
}
