import * as v from 'valibot';
import { ErrorResponseSchema } from './errors.js';

/**
 * The resources of the control protocol, as valibot schemas: the TypeScript types below are
 * inferred from them, and the JSON Schemas (json-schema.ts) and the API's OpenAPI document are
 * generated from them. The runtime's control socket answers with these; `ctl`, the pod's API
 * and the remote CLI read them.
 */

export const PhaseSchema = v.picklist(['validating', 'configuring', 'starting', 'ready', 'stopping']);
export type Phase = v.InferOutput<typeof PhaseSchema>;

export const HealthResultSchema = v.object({
  ok: v.boolean(),
  reason: v.string(),
  /** What the checks found, when the service says more (each consumer's served generation). */
  details: v.optional(v.record(v.string(), v.unknown())),
});
export type HealthResult = v.InferOutput<typeof HealthResultSchema>;

/**
 * pending → starting → running ⇄ backoff → … ; stopping → stopped. exited: ended and its
 * restart policy says not to restart. failed: a crash loop, or a dependency that failed.
 */
export const ProcessStateSchema = v.picklist([
  'pending',
  'starting',
  'running',
  'backoff',
  'stopping',
  'stopped',
  'exited',
  'failed',
]);
export type ProcessState = v.InferOutput<typeof ProcessStateSchema>;

export const ExitInfoSchema = v.object({
  code: v.nullable(v.number()),
  signal: v.nullable(v.string()),
  /** Milliseconds since the epoch. */
  at: v.number(),
  uptimeMs: v.number(),
});
export type ExitInfo = v.InferOutput<typeof ExitInfoSchema>;

export const ProcessStatusSchema = v.object({
  name: v.string(),
  state: ProcessStateSchema,
  pid: v.nullable(v.number()),
  restarts: v.number(),
  critical: v.boolean(),
  /** False while its health check keeps failing (or its sd_notify watchdog is late). */
  healthy: v.boolean(),
  /** What the daemon last said about itself (sd_notify STATUS=). */
  daemonStatus: v.nullable(v.string()),
  lastExit: v.nullable(ExitInfoSchema),
  reason: v.nullable(v.string()),
});
export type ProcessStatus = v.InferOutput<typeof ProcessStatusSchema>;

/** PID 1's own footprint: bytes, and open descriptors. */
export const RuntimeFootprintSchema = v.object({
  rss: v.number(),
  heapUsed: v.number(),
  heapTotal: v.number(),
  external: v.number(),
  arrayBuffers: v.number(),
  fds: v.number(),
  uptimeSeconds: v.number(),
});
export type RuntimeFootprint = v.InferOutput<typeof RuntimeFootprintSchema>;

const JsonSchemaObject = v.record(v.string(), v.unknown());

export const ActionInfoSchema = v.object({
  name: v.string(),
  summary: v.string(),
  /** The phases it runs in (others answer 503). */
  phases: v.array(PhaseSchema),
  /** It changes nothing (a listing): the API lets the `read` scope call it. */
  readOnly: v.optional(v.boolean()),
  /** Its input and output as JSON Schema (draft 2020-12); a secret field is `writeOnly`. */
  input: v.optional(JsonSchemaObject),
  output: v.optional(JsonSchemaObject),
});
export type ActionInfo = v.InferOutput<typeof ActionInfoSchema>;

export const StatusResponseSchema = v.object({
  service: v.string(),
  pid: v.number(),
  mode: v.string(),
  phase: PhaseSchema,
  readiness: HealthResultSchema,
  liveness: HealthResultSchema,
  processes: v.array(ProcessStatusSchema),
  /** What the service adds (certificates: the published generation; consumers: the one they serve). */
  details: v.record(v.string(), v.unknown()),
  actions: v.array(ActionInfoSchema),
  runtime: RuntimeFootprintSchema,
});
export type StatusResponse = v.InferOutput<typeof StatusResponseSchema>;

export const ProcessRequestSchema = v.picklist(['start', 'stop', 'restart']);
export type ProcessRequest = v.InferOutput<typeof ProcessRequestSchema>;

export const ReloadResponseSchema = v.object({ ok: v.literal(true) });
export const ProcessResponseSchema = v.object({ process: ProcessStatusSchema });
export const ActionsResponseSchema = v.object({ actions: v.array(ActionInfoSchema) });
/** An action's answer; its shape is the action's `output` schema. */
export const ActionResultSchema = v.object({ result: v.unknown() });

/** One log record as the runtime writes it (pino's JSON): these fields, and whatever it adds. */
export const LogRecordSchema = v.looseObject({
  time: v.optional(v.string()),
  level: v.optional(v.string()),
  msg: v.optional(v.string()),
  service: v.optional(v.string()),
  proc: v.optional(v.string()),
});
export type LogRecord = v.InferOutput<typeof LogRecordSchema>;

/** The pod as the API sees it: each service's status, or why it could not be asked. */
export const PodServiceStatusSchema = v.object({
  service: v.string(),
  reachable: v.boolean(),
  status: v.optional(StatusResponseSchema),
  error: v.optional(ErrorResponseSchema.entries.error),
});
export type PodServiceStatus = v.InferOutput<typeof PodServiceStatusSchema>;

export const PodStatusSchema = v.object({
  /** Every service reachable and ready. */
  ready: v.boolean(),
  services: v.array(PodServiceStatusSchema),
});
export type PodStatus = v.InferOutput<typeof PodStatusSchema>;

/** Every named schema, for JSON Schema and OpenAPI `components.schemas`. */
export const NAMED_SCHEMAS = {
  Error: ErrorResponseSchema,
  Phase: PhaseSchema,
  HealthResult: HealthResultSchema,
  ProcessState: ProcessStateSchema,
  ExitInfo: ExitInfoSchema,
  ProcessStatus: ProcessStatusSchema,
  RuntimeFootprint: RuntimeFootprintSchema,
  ActionInfo: ActionInfoSchema,
  Status: StatusResponseSchema,
  ReloadResponse: ReloadResponseSchema,
  ProcessResponse: ProcessResponseSchema,
  ActionsResponse: ActionsResponseSchema,
  ActionResult: ActionResultSchema,
  LogRecord: LogRecordSchema,
  PodServiceStatus: PodServiceStatusSchema,
  PodStatus: PodStatusSchema,
} as const;
