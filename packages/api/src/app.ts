import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { ActionInfo } from '@podserve/protocol';
import type { Logger } from '@podserve/runtime';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { fail, json, passOn } from './answers.js';
import { type ApiVariables, authenticateBearer, forbidden } from './auth.js';
import type { FailureLimiter } from './failure-limiter.js';
import { followLogs } from './logs-sse.js';
import { openApiDocument } from './openapi.js';
import type { PodStatusCache } from './pod-status.js';
import { RESOURCES } from './resources.js';
import type { Scope, TokenEntry } from './tokens.js';
import type { Upstreams } from './upstream.js';

export interface ApiParts {
  upstreams: Upstreams;
  podStatus: PodStatusCache;
  tokens: () => readonly TokenEntry[];
  limiter: FailureLimiter;
  log: Logger;
  /** Requests answered at once; more get 503 with Retry-After. */
  maxConcurrent?: number;
  /** Log streams at once. */
  maxFollowers?: number;
}

const MAX_BODY_BYTES = 64 * 1024;
/** How long the API trusts a service's action listing (which action is read-only). */
const CATALOG_MS = 10_000;

type Env = { Variables: ApiVariables };

/**
 * The pod's control API: the whole pod's status, and every service's control protocol behind
 * bearer tokens (`/api/v1/services/NAME/…` is the service's own `/v1/…`), plus named resources
 * (mail users, DNS records, certificates) that are each one service action. The API keeps no
 * state of the pod's: it reaches the services only through their control sockets.
 */
export function createApp(parts: ApiParts): Hono<Env> {
  const { upstreams, log } = parts;
  const maxConcurrent = parts.maxConcurrent ?? 128;
  const maxFollowers = parts.maxFollowers ?? 16;
  let inFlight = 0;
  let followers = 0;
  const catalogs = new Map<string, { at: number; actions: ActionInfo[] }>();

  const app = new Hono<Env>();

  app.get('/api/openapi.json', async (c) => json(c, 200, await openApiDocument(upstreams, catalogOf)));

  // Every caller costs memory until answered: past the bound, a clear 503 instead.
  app.use('/api/v1/*', async (c, next) => {
    if (inFlight >= maxConcurrent) {
      return fail(c, 'unavailable', `over ${maxConcurrent} requests in progress; try again`, undefined, {
        'retry-after': '1',
      });
    }
    inFlight += 1;
    try {
      await next();
    } finally {
      inFlight -= 1;
    }
    return undefined;
  });
  app.use(
    '/api/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => fail(c, 'bad_request', `the request body is over ${MAX_BODY_BYTES} bytes`),
    }),
  );
  app.use('/api/v1/*', authenticateBearer(parts.tokens, parts.limiter));
  app.use('/api/v1/*', async (c, next) => {
    await next();
    if (c.res.status === 401) log.info({ address: c.get('address') }, 'api: authentication failed');
  });

  app.get('/api/v1/status', async (c) => {
    const denied = forbidden(c, c.get('caller'), 'read');
    if (denied) return denied;
    return json(c, 200, await parts.podStatus.get());
  });

  app.get('/api/v1/services', async (c) => json(c, 200, { services: upstreams.services() }));

  app.get('/api/v1/services/:service/status', (c) =>
    service(c, 'read', (name) => upstreams.call(name, 'GET', '/v1/status', undefined, 30_000)),
  );
  app.get('/api/v1/services/:service/actions', (c) =>
    service(c, 'read', (name) => upstreams.call(name, 'GET', '/v1/actions', undefined, 30_000)),
  );
  app.post('/api/v1/services/:service/reload', (c) =>
    service(c, 'admin', async (name) => audited(c, 'reload', name, await upstreams.call(name, 'POST', '/v1/reload'))),
  );
  app.post('/api/v1/services/:service/processes/:process/:request', (c) =>
    service(c, 'admin', async (name) => {
      const { process, request } = c.req.param();
      const path = `/v1/processes/${encodeURIComponent(process)}/${encodeURIComponent(request)}`;
      return audited(c, `process ${request}`, `${name}/${process}`, await upstreams.call(name, 'POST', path));
    }),
  );
  app.post('/api/v1/services/:service/actions/:action', async (c) => {
    const body = await readObject(c);
    if (body instanceof Response) return body;
    return callAction(c, c.req.param('service'), c.req.param('action'), body);
  });
  app.get('/api/v1/services/:service/logs', (c) =>
    service(c, 'read', async (name) => {
      const lines = c.req.query('lines') ?? '100';
      if (!/^\d{1,4}$/.test(lines))
        return fail(c, 'bad_request', `lines must be a whole number; found "${lines.slice(0, 20)}"`);
      const after = c.req.header('last-event-id') ?? c.req.query('after');
      const wantsStream = c.req.query('follow') === '1' || (c.req.header('accept') ?? '').includes('text/event-stream');
      if (!wantsStream) {
        const query = new URLSearchParams({ lines, ids: '1', ...(after ? { after } : {}) });
        return upstreams
          .call(name, 'GET', `/v1/logs?${query}`, undefined, 30_000)
          .then((a) =>
            a.status === 200
              ? new Response(a.body, { headers: { 'content-type': 'application/x-ndjson' } })
              : passOn(a.status, a.body),
          );
      }
      if (followers >= maxFollowers) {
        return fail(c, 'unavailable', `${maxFollowers} log streams are open already; try again later`, undefined, {
          'retry-after': '5',
        });
      }
      followers += 1;
      const res = (c.env as { outgoing: ServerResponse }).outgoing;
      res.once('close', () => {
        followers -= 1;
      });
      followLogs({ socketPath: upstreams.socketOf(name), service: name, after, lines: Number(lines), res, log });
      return RESPONSE_ALREADY_SENT;
    }),
  );

  for (const r of RESOURCES) {
    const route = `/api/v1${r.path}`;
    const handler = async (c: Context<Env>) => {
      const body = r.body ? await readObject(c) : {};
      if (body instanceof Response) return body;
      const params = Object.fromEntries((r.params ?? []).map((p) => [p, c.req.param(p)]));
      return callAction(c, r.service, r.action, { ...body, ...params }, r.scope);
    };
    if (r.method === 'GET') app.get(route, handler);
    else if (r.method === 'POST') app.post(route, handler);
    else if (r.method === 'PUT') app.put(route, handler);
    else app.delete(route, handler);
  }

  app.notFound((c) =>
    fail(
      c,
      'not_found',
      `no such endpoint: ${c.req.method} ${c.req.path} (the API is under /api/v1/; see /api/openapi.json)`,
    ),
  );
  app.onError((err, c) => {
    log.error({ err: err.message, path: c.req.path }, 'api: request failed');
    return fail(c, 'failed', `the request failed: ${err.message}`);
  });
  return app;

  /** The named service, or 404; then the scope, then the call. */
  async function service(
    c: Context<Env>,
    needed: Scope,
    call: (name: string) => Promise<Response | { status: number; body: Buffer }>,
    name = c.req.param('service') ?? '',
  ) {
    if (!upstreams.has(name)) {
      return fail(
        c,
        'not_found',
        `no service "${name.slice(0, 63)}" in this pod; it has: ${upstreams.services().join(', ') || 'none'}`,
      );
    }
    const denied = forbidden(c, c.get('caller'), needed);
    if (denied) return denied;
    const answer = await call(name);
    return answer instanceof Response ? answer : passOn(answer.status, answer.body);
  }

  /**
   * An action: a read-only one (the service says so in its listing) needs the read scope,
   * any other admin, and is audited. `scope` is a named resource's own, when it has one.
   */
  async function callAction(
    c: Context<Env>,
    name: string,
    action: string,
    input: Record<string, unknown>,
    scope?: Scope,
  ) {
    const needed = scope ?? (await actionScope(name, action));
    return service(
      c,
      needed,
      async (svc) => {
        const answer = await upstreams.call(svc, 'POST', `/v1/actions/${encodeURIComponent(action)}`, input);
        return needed === 'admin' ? audited(c, `${svc} ${action}`, describeTarget(input), answer) : answer;
      },
      name,
    );
  }

  async function actionScope(name: string, action: string): Promise<Scope> {
    const info = (await catalogOf(name))?.find((a) => a.name === action);
    return info?.readOnly ? 'read' : 'admin';
  }

  async function catalogOf(name: string): Promise<ActionInfo[] | undefined> {
    const cached = catalogs.get(name);
    if (cached && Date.now() - cached.at < CATALOG_MS) return cached.actions;
    if (!upstreams.has(name)) return undefined;
    const answer = await upstreams.json<{ actions: ActionInfo[] }>(name, 'GET', '/v1/actions', undefined, 10_000);
    if (!answer.ok) return cached?.actions;
    catalogs.set(name, { at: Date.now(), actions: answer.value.actions });
    return answer.value.actions;
  }

  /** One audit line per mutating call: who, what, on what, and how it ended. Never a secret. */
  function audited(c: Context<Env>, action: string, target: string, answer: { status: number; body: Buffer }) {
    const caller = c.get('caller');
    const result = answer.status < 300 ? 'ok' : `${answer.status} ${errorCodeOf(answer.body)}`;
    log.info(
      // "tokenName": the logger redacts any field called token.
      { audit: { tokenName: caller.name, address: c.get('address'), action, target, result } },
      `api audit: ${caller.name} ${action} ${target}: ${result}`,
    );
    return answer;
  }
}

/** What an action is about, for the audit line: the input's identifying fields, never a password. */
function describeTarget(input: Record<string, unknown>): string {
  const keys = ['address', 'source', 'id', 'name', 'type', 'value'];
  const parts = keys
    .filter((k) => typeof input[k] === 'string' || typeof input[k] === 'number')
    .map((k) => `${k}=${String(input[k]).slice(0, 200)}`);
  return parts.join(' ') || '-';
}

function errorCodeOf(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as { error: { code: string } }).error.code;
  } catch {
    return 'failed';
  }
}

/** The request body as one JSON object ({} when empty), or the 400 that says why not. */
async function readObject(c: Context): Promise<Record<string, unknown> | Response> {
  const text = (await c.req.text()).trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(c, 'bad_request', `the request body is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return fail(c, 'bad_request', 'the request body must be one JSON object');
  }
  return parsed as Record<string, unknown>;
}
