import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { type ErrorCode, errorBody, PROTOCOL_HEADER, PROTOCOL_PATH, PROTOCOL_VERSION } from '@podserve/protocol/wire';
import { loadReaper } from '@podserve/reaper';
import { errorMessage, PodServeError } from '../errors.js';
import { chmod, lstat, mkdtemp, rename, rm, unlink } from '../files/fs.js';
import type { Logger } from '../logging/logger.js';
import type { ProcessStatus } from '../supervisor/supervised-process.js';
import type { LogBuffer } from './log-buffer.js';
import type { ActionInfo, StatusResponse } from './protocol.js';

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

/** The control socket's path is answered by another process: the service must not become ready. */
export class SocketTaken extends PodServeError {
  override readonly name = 'SocketTaken';
}

/** Only root (and the socket's group) may connect: the socket is the keys to the service. */
const SOCKET_MODE = 0o660;
const MAX_BODY_BYTES = 64 * 1024;
/** Requests answered at once; more get 503 busy. Each holds a parser, buffers and a promise. */
const MAX_CONCURRENT_REQUESTS = 64;
/** `logs?follow=1` streams at once (each may buffer up to FOLLOW_BUFFER_BYTES). */
const MAX_FOLLOWERS = 8;
/** Connections the server accepts at all; beyond, the kernel backlog and then refusals. */
const MAX_CONNECTIONS = 256;
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
export async function startControlServer(path: string, handlers: ControlHandlers, log: Logger): Promise<ControlServer> {
  const { createServer, request } = await import('node:http');
  let inFlight = 0;
  let followers = 0;
  const callers = peerCheck(log);
  const server = createServer((req, res) => {
    const refused = callers.refusal(req.socket);
    if (refused) {
      sendError(res, 403, 'forbidden', refused);
      return;
    }
    // Every caller costs memory until answered: past the bound, a clear 503 instead.
    if (inFlight >= MAX_CONCURRENT_REQUESTS) {
      res.setHeader('retry-after', '1');
      sendError(res, 503, 'unavailable', `over ${MAX_CONCURRENT_REQUESTS} requests in progress; try again`);
      return;
    }
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
    });
    const slot = {
      follow: () => {
        if (followers >= MAX_FOLLOWERS) return false;
        followers += 1;
        res.once('close', () => {
          followers -= 1;
        });
        return true;
      },
    };
    void route(req, res, handlers, log, slot).catch((err: unknown) => {
      log.error({ err: errorMessage(err), url: req.url }, 'control request failed');
      if (!res.headersSent) sendError(res, 500, 'failed', errorMessage(err));
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => callers.check(socket));
  // A follower's stream must not keep a stopping runtime waiting.
  server.keepAliveTimeout = 1_000;
  // Idle or half-sent requests do not hold a connection for ever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.maxConnections = MAX_CONNECTIONS;

  // The socket is made in a private directory (0700), given its mode, and renamed into place:
  // it is never reachable with a wider mode, and the process umask (shared by everything
  // else running in PID 1 meanwhile) is never touched.
  const staging = await mkdtemp(join(dirname(path), `.${basename(path)}-`));
  const staged = join(staging, 'sock');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(staged, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    await chmod(staged, SOCKET_MODE);
    if (await exists(path)) {
      // A socket file is there: left by a crashed run (nobody answers) or in use by a live one.
      if (await answers(request, path)) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw new SocketTaken(
          `another process answers on ${path} (a second instance with the same run directory, or a container that mounts it): this one refuses to become ready, so that nothing meant for it reaches the other`,
        );
      }
      // Only a stale socket is replaced: a regular file there is somebody's, and stays.
      if (!(await isSocket(path))) throw new PodServeError(`${path} exists and is not a socket; not replacing it`);
    }
    await rename(staged, path);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
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

/**
 * Who is calling, as the kernel says (SO_PEERCRED at connect()), checked against who may: root
 * and the service's own user. The socket's mode (0660, root's group) is the first gate; this is
 * the second, for a socket whose mode or directory someone widened. A refused caller gets 403
 * naming its uid; each refused uid is warned about once.
 */
function peerCheck(log: Logger) {
  const reaper = loadReaper();
  const allowed = new Set([0, process.getuid?.() ?? 0]);
  const refusals = new WeakMap<Socket, string>();
  const warned = new Set<number>();
  return {
    check(socket: Socket): void {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (!reaper || fd === undefined || fd < 0) return;
      let peer: { pid: number; uid: number; gid: number };
      try {
        peer = reaper.peerCredentials(fd);
      } catch (err) {
        refusals.set(socket, `the caller's credentials could not be read (${errorMessage(err)})`);
        return;
      }
      if (allowed.has(peer.uid)) return;
      refusals.set(
        socket,
        `uid ${peer.uid} may not command this service (only root${allowed.size > 1 ? ' and its own user' : ''})`,
      );
      if (!warned.has(peer.uid)) {
        warned.add(peer.uid);
        log.warn(
          { uid: peer.uid, gid: peer.gid, pid: peer.pid },
          `control socket: refused a caller with uid ${peer.uid}`,
        );
      }
    },
    refusal: (socket: Socket) => refusals.get(socket),
  };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  h: ControlHandlers,
  log: Logger,
  slot: { follow(): boolean },
): Promise<void> {
  const method = req.method ?? 'GET';
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://control');
  } catch {
    log.debug({ method, url: req.url }, 'control: malformed request target');
    return sendError(res, 400, 'bad_request', 'malformed request target');
  }
  const parts = url.pathname.split('/').filter(Boolean);
  log.debug({ method, path: url.pathname }, `control: ${method} ${url.pathname}`);
  if (`/${parts[0]}` !== PROTOCOL_PATH)
    return sendError(res, 404, 'not_found', `no such endpoint: ${url.pathname} (the API is under ${PROTOCOL_PATH}/)`);
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
            'failed',
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
      return streamLogs(url, res, h.logs, slot);
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
    const answer = errorAnswer(err, url.pathname);
    if (!answer) throw err;
    // A caller's mistake is the caller's to read, not an error of the service's.
    if (answer.status >= 500) log.warn({ method, path: url.pathname, err: answer.message }, 'control request failed');
    else
      log.debug({ method, path: url.pathname, status: answer.status, err: answer.message }, 'control request refused');
    return sendError(res, answer.status, answer.code, answer.message);
  }
}

/** The HTTP answer for an error a handler threw on purpose; undefined for a bug (500 internal). */
function errorAnswer(err: unknown, path: string): { status: number; code: ErrorCode; message: string } | undefined {
  if (err instanceof URIError) return { status: 400, code: 'bad_request', message: `malformed name in ${path}` };
  if (!(err instanceof PodServeError)) return undefined;
  const kinds: Array<[new (...a: never[]) => PodServeError, number, ErrorCode]> = [
    [NotFound, 404, 'not_found'],
    [BadRequest, 400, 'bad_request'],
    [Conflict, 409, 'conflict'],
    [Unavailable, 503, 'unavailable'],
    [RequestFailed, 500, 'failed'],
  ];
  // Any other PodServeError is a refusal of what the caller asked: never a 500.
  const [, status, code] = kinds.find(([kind]) => err instanceof kind) ?? [PodServeError, 400, 'bad_request'];
  return { status, code, message: err.message };
}

/**
 * `GET /v1/logs?lines=N[&follow=1][&ids=1][&after=ID]`: NDJSON, the last N records, then each new
 * one while following. With `ids=1` each line is `{"id":"INSTANCE.SEQ","record":{…}}`, and
 * `after=ID` (an id from an earlier answer) starts after that record instead: the API's
 * Server-Sent Events resume from `Last-Event-ID` that way. An id from another run of the service
 * starts from the oldest record kept; the `podserve-log-missed` header says how many records
 * after `after` were dropped already (the buffer is bounded), `restarted` when the run changed.
 */
function streamLogs(url: URL, res: ServerResponse, logs: LogBuffer, slot: { follow(): boolean }): void {
  const raw = url.searchParams.get('lines') ?? '100';
  const lines = Number(raw);
  if (!/^\d+$/.test(raw) || lines > logs.capacity) {
    sendError(res, 400, 'bad_request', `lines must be a whole number from 0 to ${logs.capacity}; found "${raw}"`);
    return;
  }
  const after = url.searchParams.get('after');
  const resume = after === null ? undefined : /^([0-9a-z]{1,16})\.(\d{1,15})$/.exec(after);
  if (after !== null && !resume) {
    sendError(
      res,
      400,
      'bad_request',
      `after must be a log id as an earlier answer gave it (INSTANCE.SEQ); found "${after.slice(0, 40)}"`,
    );
    return;
  }
  const ids = url.searchParams.get('ids') === '1' || resume !== undefined;
  const follow = url.searchParams.get('follow') === '1';
  if (follow && !slot.follow()) {
    sendError(res, 503, 'unavailable', `${MAX_FOLLOWERS} log followers are connected already; try again later`);
    return;
  }
  let backlog: Array<{ seq: number; line: string }>;
  let missed = '0';
  if (resume) {
    const sameRun = resume[1] === logs.instance;
    const since = logs.since(sameRun ? Number(resume[2]) : 0);
    backlog = since.entries;
    missed = sameRun ? String(since.missed) : 'restarted';
  } else backlog = logs.lastEntries(lines);
  const format = (line: string, seq: number) =>
    // A record cut to fit the buffer is no JSON object any more: it goes as a string then.
    ids
      ? `{"id":"${logs.instance}.${seq}","record":${line.endsWith('}') ? line : JSON.stringify(line)}}\n`
      : `${line}\n`;
  res.writeHead(200, {
    'content-type': 'application/x-ndjson',
    [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
    'podserve-log-instance': logs.instance,
    'podserve-log-missed': missed,
  });
  for (const { seq, line } of backlog) res.write(format(line, seq));
  if (!follow) {
    res.end();
    return;
  }
  // A follower that does not read (a paused pager) is cut off rather than buffered without end.
  const stop = logs.follow((line, seq) => {
    if (res.writableLength > FOLLOW_BUFFER_BYTES) res.destroy();
    else res.write(format(line, seq));
  });
  res.on('close', stop);
}

function allow(req: IncomingMessage, res: ServerResponse, method: 'GET' | 'POST'): boolean {
  if (req.method === method) return true;
  res.setHeader('allow', method);
  // 405 is HTTP's word for it; the protocol's code is the caller's mistake.
  sendError(res, 405, 'bad_request', `use ${method} for ${req.url}`);
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
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, details?: unknown): void {
  sendJson(res, status, errorBody(code, message, details));
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
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
