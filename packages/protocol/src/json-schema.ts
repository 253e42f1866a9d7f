import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { NAMED_SCHEMAS } from './schemas.js';

export type JsonSchema = Record<string, unknown>;

/**
 * A schema as JSON Schema draft 2020-12 (what OpenAPI 3.1 uses). Kept out of the index: only
 * the API and the schema check load the converter, never PID 1 of a daemon container.
 */
export function jsonSchemaOf(schema: v.GenericSchema, typeMode: 'input' | 'output' = 'output'): JsonSchema {
  const json = toJsonSchema(schema, { target: 'draft-2020-12', typeMode, errorMode: 'ignore' }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** Every named schema of the protocol, as OpenAPI's `components.schemas` holds them. */
export function componentSchemas(): Record<keyof typeof NAMED_SCHEMAS, JsonSchema> {
  return Object.fromEntries(
    Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [name, jsonSchemaOf(schema as v.GenericSchema)]),
  ) as Record<keyof typeof NAMED_SCHEMAS, JsonSchema>;
}
