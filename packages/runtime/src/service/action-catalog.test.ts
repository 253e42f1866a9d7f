import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { describeAction } from './action-catalog.js';
import type { ServiceAction } from './base-service.js';

describe('describeAction', () => {
  it('lists the phases and the input and output as JSON Schema, a secret field writeOnly', () => {
    const add: ServiceAction = {
      summary: 'add a user',
      input: v.strictObject({
        address: v.pipe(v.string(), v.email()),
        password: v.pipe(v.string(), v.minLength(12)),
        quota: v.optional(v.pipe(v.number(), v.integer())),
      }),
      output: v.object({ added: v.string() }),
      secrets: ['password'],
      phases: ['starting', 'ready'],
      run: async () => ({ added: 'x' }),
    };
    const info = describeAction('users-add', add);
    expect(info).toEqual({
      name: 'users-add',
      summary: 'add a user',
      phases: ['starting', 'ready'],
      input: {
        type: 'object',
        properties: {
          address: { type: 'string', format: 'email' },
          password: { type: 'string', minLength: 12, writeOnly: true },
          quota: { type: 'integer' },
        },
        required: ['address', 'password'],
        additionalProperties: false,
      },
      output: { type: 'object', properties: { added: { type: 'string' } }, required: ['added'] },
    });
    // The same object each time: converted once.
    expect(describeAction('users-add', add).input).toBe(info.input);
  });

  it('says "ready" for an action without phases, and no schema for one without input', () => {
    expect(describeAction('renew', { summary: 'renew now', run: async () => 1 })).toEqual({
      name: 'renew',
      summary: 'renew now',
      phases: ['ready'],
    });
    // A listing says it changes nothing: the pod's API lets a read token call it.
    expect(describeAction('users', { summary: 'list', readOnly: true, run: async () => [] })).toEqual({
      name: 'users',
      summary: 'list',
      phases: ['ready'],
      readOnly: true,
    });
  });
});
