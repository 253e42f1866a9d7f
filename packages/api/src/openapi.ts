import type { ActionInfo } from '@podserve/protocol';
import { componentSchemas, type JsonSchema } from '@podserve/protocol/json-schema';
import { ERROR_STATUS, PROTOCOL_VERSION } from '@podserve/protocol/wire';
import { openApiPath, RESOURCES } from './resources.js';
import type { Upstreams } from './upstream.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: JsonSchema) => ({ 'application/json': { schema } });

/** Every error the API may answer, each with the one shape. */
function errors(...codes: Array<keyof typeof ERROR_STATUS>) {
  return Object.fromEntries(
    codes.map((code) => [String(ERROR_STATUS[code]), { description: code, content: jsonContent(ref('Error')) }]),
  );
}

const AUTH_ERRORS = ['unauthorized', 'forbidden', 'rate_limited'] as const;

function operation(summary: string, ok: JsonSchema, codes: Array<keyof typeof ERROR_STATUS>, extra: object = {}) {
  return {
    summary,
    responses: { '200': { description: 'done', content: jsonContent(ok) }, ...errors(...AUTH_ERRORS, ...codes) },
    ...extra,
  };
}

const serviceParam = { name: 'service', in: 'path', required: true, schema: { type: 'string' } };
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/**
 * The OpenAPI 3.1 document of the API as it runs: the protocol's schemas (the same valibot
 * schemas the server and clients use, as JSON Schema 2020-12, which OpenAPI 3.1 speaks) and,
 * for each named resource, the input and output schemas its service lists for the action
 * (asked live, so the document says what the running services accept).
 */
export async function openApiDocument(
  upstreams: Upstreams,
  catalogOf: (service: string) => Promise<ActionInfo[] | undefined>,
): Promise<Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {
    '/api/v1/status': {
      get: operation(
        "the whole pod: each service's phase, readiness, liveness, processes, certificate generation",
        ref('PodStatus'),
        [],
      ),
    },
    '/api/v1/services': {
      get: operation(
        'the services in the pod',
        { type: 'object', properties: { services: { type: 'array', items: { type: 'string' } } } },
        [],
      ),
    },
    '/api/v1/services/{service}/status': {
      get: operation("one service's status", ref('Status'), ['not_found', 'unavailable'], {
        parameters: [serviceParam],
      }),
    },
    '/api/v1/services/{service}/reload': {
      post: operation(
        'reload a service (its configuration rendered again, checked, and applied)',
        ref('ReloadResponse'),
        ['not_found', 'failed', 'unavailable'],
        { parameters: [serviceParam] },
      ),
    },
    '/api/v1/services/{service}/processes/{process}/{request}': {
      post: operation(
        'start, stop or restart one supervised process',
        ref('ProcessResponse'),
        ['not_found', 'bad_request', 'failed', 'unavailable'],
        {
          parameters: [
            serviceParam,
            pathParam('process'),
            { ...pathParam('request'), schema: { type: 'string', enum: ['start', 'stop', 'restart'] } },
          ],
        },
      ),
    },
    '/api/v1/services/{service}/logs': {
      get: {
        summary:
          "a service's last log records (NDJSON), or with follow=1 (or Accept: text/event-stream) a stream of Server-Sent Events: id, event log, the record as data; resume with Last-Event-ID; event gap when records were dropped, event end when the stream ends",
        parameters: [
          serviceParam,
          { name: 'lines', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 1000, default: 100 } },
          { name: 'follow', in: 'query', schema: { type: 'string', enum: ['1'] } },
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'the records',
            content: {
              'application/x-ndjson': {
                schema: { type: 'object', properties: { id: { type: 'string' }, record: ref('LogRecord') } },
              },
              'text/event-stream': { schema: { type: 'string' } },
            },
          },
          ...errors(...AUTH_ERRORS, 'bad_request', 'not_found', 'unavailable'),
        },
      },
    },
    '/api/v1/services/{service}/actions': {
      get: operation(
        "a service's actions, each with its input and output schema",
        ref('ActionsResponse'),
        ['not_found', 'unavailable'],
        {
          parameters: [serviceParam],
        },
      ),
    },
    '/api/v1/services/{service}/actions/{action}': {
      post: operation(
        'run an action (a read-only one with the read scope, any other with admin); the input is checked against its schema first',
        ref('ActionResult'),
        ['bad_request', 'not_found', 'conflict', 'failed', 'unavailable'],
        { parameters: [serviceParam, pathParam('action')], requestBody: { content: jsonContent({ type: 'object' }) } },
      ),
    },
  };

  for (const r of RESOURCES) {
    const info = (await catalogOf(r.service))?.find((a) => a.name === r.action);
    const params = r.params ?? [];
    const input = info?.input ? withoutParams(info.input, params) : { type: 'object' };
    const ok = { type: 'object', properties: { result: info?.output ?? {} }, required: ['result'] };
    const op = operation(
      `${r.summary} (${r.scope} scope; the ${r.service} service's ${r.action} action)`,
      ok,
      ['bad_request', 'not_found', 'conflict', 'failed', 'unavailable'],
      {
        ...(params.length > 0 ? { parameters: params.map(pathParam) } : {}),
        ...(r.body ? { requestBody: { required: true, content: jsonContent(input) } } : {}),
      },
    );
    const path = `/api/v1${openApiPath(r.path)}`;
    paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'PodServe API',
      version: String(PROTOCOL_VERSION),
      description:
        "Every operation on the pod over HTTPS. Bearer tokens with the read or admin scope; errors as { error: { code, message, details? } }; the protocol version in every answer's PodServe-Protocol header.",
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: componentSchemas(),
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/openapi.json': {
        get: {
          summary: 'this document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1', content: jsonContent({ type: 'object' }) } },
        },
      },
      ...paths,
    },
    'x-services': upstreams.services(),
  };
}

/** An action's input schema without the fields the path carries. */
function withoutParams(schema: JsonSchema, params: readonly string[]): JsonSchema {
  if (params.length === 0) return schema;
  const properties = { ...((schema.properties as Record<string, unknown>) ?? {}) };
  for (const p of params) delete properties[p];
  const required = ((schema.required as string[] | undefined) ?? []).filter((r) => !params.includes(r));
  return { ...schema, properties, ...(required.length > 0 ? { required } : { required: undefined }) };
}
