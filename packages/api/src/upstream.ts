import { readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import {
  checkProtocolVersion,
  type ErrorResponse,
  errorBody,
  PROTOCOL_HEADER,
  type ProtocolMismatch,
} from '@podserve/protocol';

/** A service's answer, passed on as it came: the status, and the JSON body unparsed. */
export interface UpstreamAnswer {
  status: number;
  body: Buffer;
}

/** Requests to one service at a time; more wait in the agent's queue rather than each opening a connection to its PID 1. */
const MAX_SOCKETS_PER_SERVICE = 8;
/** A service's answer larger than this is refused (a status is a few KiB, a listing some hundred). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The services the API reaches: each one's run directory is mounted at
 * `<controlDir>/<service>/`, holding its control socket `<service>.sock`. Only the API's
 * container mounts them all; each service's container mounts its own (pod.yaml).
 */
export class Upstreams {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_SERVICE, maxFreeSockets: 2 });

  constructor(readonly controlDir: string) {}

  /** The services whose socket is there now, sorted. */
  services(): string[] {
    try {
      return readdirSync(this.controlDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && SERVICE_NAME.test(d.name))
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  }

  has(service: string): boolean {
    return SERVICE_NAME.test(service) && this.services().includes(service);
  }

  socketOf(service: string): string {
    return join(this.controlDir, service, `${service}.sock`);
  }

  /**
   * One request to a service's control socket. The answer is the service's own (the same
   * protocol); a service that cannot be reached is a 503 in that protocol's error shape.
   */
  call(
    service: string,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = 15 * 60_000,
  ): Promise<UpstreamAnswer> {
    const socketPath = this.socketOf(service);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve) => {
      const fail = (message: string) =>
        resolve({ status: 503, body: Buffer.from(JSON.stringify(errorBody('unavailable', message))) });
      const req = request(
        {
          socketPath,
          agent: this.agent,
          method,
          path,
          timeout: timeoutMs,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          try {
            checkProtocolVersion(res.headers[PROTOCOL_HEADER], `the ${service} service`);
          } catch (err) {
            res.resume();
            fail((err as ProtocolMismatch).message);
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.byteLength;
            if (size > MAX_ANSWER_BYTES) {
              res.destroy();
              fail(`the ${service} service answered with over ${MAX_ANSWER_BYTES} bytes`);
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks) }));
          res.on('error', (err) => fail(`the ${service} service's answer broke off: ${err.message}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? `the ${service} service does not answer on its control socket (${err.code}): is it running?`
            : `the ${service} service: ${err.message}`;
        fail(why);
      });
      req.end(payload);
    });
  }

  /** call() with the answer parsed: the value on a 2xx, the error shape otherwise. */
  async json<T>(service: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number) {
    const answer = await this.call(service, method, path, body, timeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      return {
        ok: false as const,
        status: 500,
        error: errorBody('failed', `the ${service} service answered with something other than JSON`).error,
      };
    }
    if (answer.status >= 200 && answer.status < 300)
      return { ok: true as const, status: answer.status, value: parsed as T };
    return { ok: false as const, status: answer.status, error: (parsed as ErrorResponse).error };
  }

  close(): void {
    this.agent.destroy();
  }
}
