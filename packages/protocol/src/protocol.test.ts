import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS } from './codes.js';
import { ErrorResponseSchema } from './errors.js';
import { componentSchemas } from './json-schema.js';
import { StatusResponseSchema } from './schemas.js';
import { checkProtocolVersion, PROTOCOL_VERSION } from './version.js';

describe('the control protocol', () => {
  it('accepts its own version and says which side is older otherwise', () => {
    expect(() => checkProtocolVersion(String(PROTOCOL_VERSION), 'x.sock')).not.toThrow();
    expect(() => checkProtocolVersion(undefined, 'https://pod:8443')).toThrow(
      /https:\/\/pod:8443 did not say which PodServe protocol it speaks .*is it a PodServe control endpoint/,
    );
    expect(() => checkProtocolVersion('2', 'x.sock')).toThrow(
      /x\.sock speaks PodServe protocol "2"; this client speaks 1 \(this client is older than the server/,
    );
    expect(() => checkProtocolVersion('0', 'x.sock')).toThrow(/the server is older than this client/);
    expect(() => checkProtocolVersion('banana', 'x.sock')).toThrow(/not a version this client knows/);
  });

  it('has a closed list of error codes, each with one status, and no caller mistake among the 5xx', () => {
    expect(ERROR_CODES).toEqual([
      'bad_request',
      'unauthorized',
      'forbidden',
      'not_found',
      'conflict',
      'rate_limited',
      'failed',
      'unavailable',
    ]);
    expect(ERROR_CODES.filter((c) => ERROR_STATUS[c] >= 500)).toEqual(['failed', 'unavailable']);
    expect(v.safeParse(ErrorResponseSchema, { error: { code: 'busy', message: 'x' } }).success).toBe(false);
  });

  it('generates JSON Schemas from the same schemas the types come from', () => {
    const schemas = componentSchemas();
    expect(schemas.Status).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['service', 'phase', 'readiness', 'processes', 'runtime']),
    });
    expect(schemas.Error).toMatchObject({
      properties: { error: { properties: { code: { enum: ERROR_CODES } } } },
    });
    // A status as the runtime answers it passes the schema; one with a phase it does not know fails.
    const status = {
      service: 'mail',
      pid: 1,
      mode: 'serve',
      phase: 'ready',
      readiness: { ok: true, reason: 'serving', details: { generation: 'g1' } },
      liveness: { ok: true, reason: 'alive' },
      processes: [
        {
          name: 'postfix',
          state: 'running',
          pid: 10,
          restarts: 0,
          critical: true,
          healthy: true,
          daemonStatus: null,
          lastExit: null,
          reason: null,
        },
      ],
      details: {},
      actions: [{ name: 'users', summary: 'list', phases: ['ready'], readOnly: true }],
      runtime: { rss: 1, heapUsed: 1, heapTotal: 1, external: 1, arrayBuffers: 1, fds: 1, uptimeSeconds: 1 },
    };
    expect(v.safeParse(StatusResponseSchema, status).success).toBe(true);
    expect(v.safeParse(StatusResponseSchema, { ...status, phase: 'dancing' }).success).toBe(false);
  });
});
