import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, PodServeError } from '../errors.js';
import { chmod, lstat, unlink } from '../files/fs.js';
import type { Logger } from '../logging/logger.js';
import type { ProcessStatus } from '../supervisor/supervised-process.js';
import type { LogBuffer } from './log-buffer.js';
import type { ActionInfo, ErrorResponse, StatusResponse } from './protocol.js';

export type ProcessRequest = 'start' | 'stop' | 'restart';

/** What the runtime answers with; the server only speaks HTTP. */
export interface ControlHandlers {
  status(): Promise<StatusResponse>;
  /** `reason`: why the service refused it (the checker's complaint), when it knows. */
  reload(): Promise<{ ok: boolean; reason?: string }>;
  /** Throws NotFound for an unknown process. */
  process(name: string, request: ProcessRequest): Promise<ProcessStatus>;
  actions(): ActionInfo[];
  /** Throws NotFound for an unknown action; a PodServeError is the caller's mistake (400). */
  action(name: string, input: Record<string, unknown>): Promise<unknown>;
  logs: LogBuffer;
}

export class NotFound extends PodServeError {
  override readonly name = 'NotFound';
}

/** The request was fine but did not work (a process that would not start): 500 with the reason. */
export class RequestFailed extends PodServeError {
  override readonly name = 'RequestFailed';
}

/** The caller's mistake (a malformed body, a bad field, a record that cannot be): 400, logged at debug only. */
export class BadRequest extends PodServeError {
  override readonly name = 'BadRequest';
}

/** Well-formed, but it clashes with what is there (a record the configuration sets): 409. */
export class Conflict extends PodServeError {
  override readonly name = 'Conflict';
}

/** Not possible right now (the service is still starting, its daemon is down): 503, try again later. */
export class Unavailable extends PodServeError {
  override readonly name = 'Unavailable';
}

/** Only root (and the socket's group) may connect: the socket is the keys to the service. */
const SOCKET_MODE = 0o660;
const MAX_BODY_BYTES = 64 * 1024;
/** What a `logs` follower may fall behind by before it is disconnected. */
const FOLLOW_BUFFER_BYTES = 1024 * 1024;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * HTTP/1.1 over a Unix socket in the run directory: `ctl` talks to it, and so will the pod's
 * HTTPS API (from another container, through the shared run volume). node:http is loaded
 * here only, so `exec` and probes never pay for it.
 */
export async function startControlServer(
  path: string,
  handlers: ControlHandlers,
  log: Logger,
): Promise<ControlServer | null> {
  const { createServer, request } = await import('node:http');
  const server = createServer((req, res) => {
    void route(req, res, handlers, log).catch((err: unknown) => {
      log.error({ err: errorMessage(err), url: req.url }, 'control request failed');
      if (!res.headersSent) sendError(res, 500, 'internal', errorMessage(err));
      else res.destroy();
    });
  });
  // A follower's stream must not keep a stopping runtime waiting.
  server.keepAliveTimeout = 1_000;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      // Created 0660 from the start, not 0755 until the chmod below.
      const umask = process.umask(0o117);
      server.once('error', (err) => {
        process.umask(umask);
        reject(err);
      });
      server.listen(path, () => {
        process.umask(umask);
        server.removeAllListeners('error');
        resolve();
      });
    });
  try {
    await listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    // A socket file is there: left by a crashed run (nobody answers) or in use by a live one.
    if (await answers(request, path)) {
      log.warn({ path }, `another instance answers on ${path}; this one runs without a control socket`);
      return null;
    }
    // Only a stale socket is removed: a regular file there is somebody's, and stays.
    if (!(await isSocket(path))) throw err;
    await unlink(path);
    await listen();
  }
  await chmod(path, SOCKET_MODE);
  server.unref();
  log.debug({ path }, `control socket listening on ${path}`);
  return {
    path,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => undefined);
    },
  };
}

async function route(req: IncomingMessage, res: ServerResponse, h: ControlHandlers, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control');
  const parts = url.pathname.split('/').filter(Boolean);
  const method = req.method ?? 'GET';
  log.debug({ method, path: url.pathname }, `control: ${method} ${url.pathname}`);
  if (parts[0] !== 'v1')
    return sendError(res, 404, 'not_found', `no such endpoint: ${url.pathname} (the API is under /v1/)`);
  const [, resource, name, verb] = parts;
  try {
    if (resource === 'status' && parts.length === 2) {
      if (!allow(req, res, 'GET')) return;
      return sendJson(res, 200, await h.status());
    }
    if (resource === 'reload' && parts.length === 2) {
      if (!allow(req, res, 'POST')) return;
      const { ok, reason } = await h.reload();
      return ok
        ? sendJson(res, 200, { ok })
        : sendError(
            res,
            500,
            'reload_failed',
            reason
              ? `reload failed; the previous configuration keeps running: ${reason}`
              : 'reload failed; see the logs (the previous configuration keeps running)',
          );
    }
    if (resource === 'processes' && name !== undefined && parts.length === 4) {
      if (verb !== 'start' && verb !== 'stop' && verb !== 'restart') {
        return sendError(res, 404, 'not_found', `no such process request "${verb}"; expected start, stop or restart`);
      }
      if (!allow(req, res, 'POST')) return;
      log.info({ process: name, request: verb }, `control: ${verb} ${name}`);
      return sendJson(res, 200, { process: await h.process(decodeURIComponent(name), verb) });
    }
    if (resource === 'logs' && parts.length === 2) {
      if (!allow(req, res, 'GET')) return;
      return streamLogs(url, res, h.logs);
    }
    if (resource === 'actions' && parts.length === 2) {
      if (!allow(req, res, 'GET')) return;
      return sendJson(res, 200, { actions: h.actions() });
    }
    if (resource === 'actions' && name !== undefined && parts.length === 3) {
      if (!allow(req, res, 'POST')) return;
      const input = await readJsonBody(req);
      log.info({ action: name }, `control: action ${name}`);
      return sendJson(res, 200, { result: await h.action(decodeURIComponent(name), input) });
    }
    return sendError(res, 404, 'not_found', `no such endpoint: ${method} ${url.pathname}`);
  } catch (err) {
    if (err instanceof URIError) return sendError(res, 400, 'bad_request', `malformed name in ${url.pathname}`);
    if (err instanceof NotFound) return sendError(res, 404, 'not_found', err.message);
    if (err instanceof RequestFailed) return sendError(res, 500, 'failed', err.message);
    if (err instanceof BadRequest) return sendError(res, 400, 'bad_request', err.message);
    if (err instanceof Conflict) return sendError(res, 409, 'conflict', err.message);
    if (err instanceof Unavailable) return sendError(res, 503, 'unavailable', err.message);
    if (err instanceof PodServeError) return sendError(res, 400, 'refused', err.message);
    throw err;
  }
}

function streamLogs(url: URL, res: ServerResponse, logs: LogBuffer): void {
  const raw = url.searchParams.get('lines') ?? '100';
  const lines = Number(raw);
  if (!/^\d+$/.test(raw) || lines > logs.capacity) {
    sendError(res, 400, 'bad_request', `lines must be a whole number from 0 to ${logs.capacity}; found "${raw}"`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  for (const line of logs.last(lines)) res.write(`${line}\n`);
  if (url.searchParams.get('follow') !== '1') {
    res.end();
    return;
  }
  // A follower that does not read (a paused pager) is cut off rather than buffered without end.
  const stop = logs.follow((line) => {
    if (res.writableLength > FOLLOW_BUFFER_BYTES) res.destroy();
    else res.write(`${line}\n`);
  });
  res.on('close', stop);
}

function allow(req: IncomingMessage, res: ServerResponse, method: 'GET' | 'POST'): boolean {
  if (req.method === method) return true;
  res.setHeader('allow', method);
  sendError(res, 405, 'method_not_allowed', `use ${method} for ${req.url}`);
  return false;
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`request body is not JSON: ${errorMessage(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequest('request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, details?: unknown): void {
  const body: ErrorResponse = { error: { code, message, ...(details === undefined ? {} : { details }) } };
  sendJson(res, status, body);
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSocket();
  } catch {
    return false;
  }
}

function answers(request: typeof import('node:http').request, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: path, path: '/v1/status', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
