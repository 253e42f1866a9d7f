import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import type { ActionInfo } from '../control/protocol.js';
import type { Phase } from '../health/status.js';
import type { ServiceAction } from './base-service.js';

export const DEFAULT_ACTION_PHASES: readonly Phase[] = ['ready'];

type JsonSchema = Record<string, unknown>;

/** Converted once per action object: the schemas never change while a service runs. */
const converted = new WeakMap<ServiceAction, Pick<ActionInfo, 'input' | 'output'>>();

/**
 * What `GET /v1/actions` says of an action: its phases and its input and output as JSON Schema
 * (draft 2020-12, what OpenAPI 3.1 uses), so the API and `ctl` can describe and check a call
 * without knowing the service. A field listed in `secrets` is marked `writeOnly`, the JSON
 * Schema word for "sent, never shown". Parts valibot cannot express (a transform, a custom
 * check) are left out of the JSON Schema; the runtime still checks them with valibot.
 */
export function describeAction(name: string, action: ServiceAction): ActionInfo {
  let schemas = converted.get(action);
  if (!schemas) {
    schemas = {};
    if (action.input) schemas.input = markSecrets(convert(action.input, 'input'), action.secrets ?? []);
    if (action.output) schemas.output = convert(action.output, 'output');
    converted.set(action, schemas);
  }
  return {
    name,
    summary: action.summary,
    phases: [...(action.phases ?? DEFAULT_ACTION_PHASES)],
    ...(action.readOnly ? { readOnly: true } : {}),
    ...schemas,
  };
}

function convert(schema: v.GenericSchema, typeMode: 'input' | 'output'): JsonSchema {
  const json = toJsonSchema(schema, { target: 'draft-2020-12', typeMode, errorMode: 'ignore' }) as JsonSchema;
  // The $schema line is the same for every action; the listing says it once.
  delete json.$schema;
  return json;
}

function markSecrets(schema: JsonSchema, secrets: readonly string[]): JsonSchema {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties || secrets.length === 0) return schema;
  const marked = Object.fromEntries(
    Object.entries(properties).map(([key, value]) => [
      key,
      secrets.includes(key) ? { ...value, writeOnly: true } : value,
    ]),
  );
  return { ...schema, properties: marked };
}
