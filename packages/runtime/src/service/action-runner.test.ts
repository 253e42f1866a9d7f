import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../../test/support/memory-logger.js';
import { BadRequest, NotFound, Unavailable } from '../control/control-server.js';
import type { Phase } from '../health/status.js';
import { Redactor } from '../logging/redactor.js';
import { ActionRunner } from './action-runner.js';
import type { ServiceAction } from './base-service.js';

function runner(actions: Record<string, ServiceAction>, phase: Phase = 'ready') {
  return new ActionRunner(
    'fixture',
    () => actions,
    () => phase,
    memoryLogger().logger,
  );
}

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ActionRunner', () => {
  it('knows only the actions the service offers, never a name from Object.prototype', async () => {
    const r = runner({ hello: { summary: 'hi', run: async () => 'hi' } });
    expect(await r.run('hello', {})).toBe('hi');
    for (const name of ['nope', 'constructor', '__proto__', 'toString']) {
      await expect(r.run(name, {})).rejects.toThrow(NotFound);
    }
    await expect(r.run('nope', {})).rejects.toThrow('no action "nope"; fixture offers: hello');
  });

  it('runs an action only in its phases: by default once the service is ready', async () => {
    let runs = 0;
    const actions: Record<string, ServiceAction> = {
      change: { summary: 'x', run: async () => ++runs },
      early: { summary: 'y', phases: ['starting', 'ready'], run: async () => ++runs },
    };
    await expect(runner(actions, 'starting').run('change', {})).rejects.toThrow(Unavailable);
    await expect(runner(actions, 'stopping').run('change', {})).rejects.toThrow(
      'fixture is stopping: "change" runs once it is ready',
    );
    expect(runs).toBe(0);
    expect(await runner(actions, 'starting').run('early', {})).toBe(1);
  });

  it('refuses a queued action whose turn comes after the service began to stop', async () => {
    let phase: Phase = 'ready';
    let ran = false;
    const r = new ActionRunner(
      'fixture',
      () => ({
        // The service begins to stop while this one runs and the next waits.
        slow: {
          summary: 's',
          run: async () => {
            phase = 'stopping';
            await later(30);
          },
        },
        change: {
          summary: 'c',
          run: async () => {
            ran = true;
          },
        },
      }),
      () => phase,
      memoryLogger().logger,
    );
    const first = r.run('slow', {});
    const queued = r.run('change', {});
    await first;
    await expect(queued).rejects.toThrow('fixture is stopping');
    expect(ran).toBe(false);
  });

  it('answers a bad input with every problem at once, before the action runs, never echoing a secret', async () => {
    let ran = false;
    const add: ServiceAction<{ user: string; password: string; quota?: number }> = {
      summary: 'add a user',
      secrets: ['password'],
      input: v.strictObject({
        user: v.pipe(v.string(), v.email('an e-mail address such as alice@example.test')),
        password: v.pipe(v.string(), v.minLength(12), v.regex(/\d/)),
        quota: v.optional(v.number()),
      }),
      run: async () => {
        ran = true;
      },
    };
    const r = runner({ add: add as ServiceAction });
    const failure = r.run('add', { user: 'alice', password: 'hunter', quota: 'lots', admin: true });
    await expect(failure).rejects.toThrow(BadRequest);
    const message = await failure.catch((err: Error) => err.message);
    expect(message).toContain('user: an e-mail address such as alice@example.test');
    expect(message).toContain('password: expected min length >=12');
    expect(message).toContain('quota: expected number, found "lots"');
    expect(message).toContain('admin: not an input of this action');
    expect(message).toContain('password: expected regex /\\d/');
    expect(message).not.toContain('hunter');
    await expect(r.run('add', {})).rejects.toThrow('user: missing; password: missing');
    expect(ran).toBe(false);
    await r.run('add', { user: 'alice@example.test', password: 'correct horse battery 9' });
    expect(ran).toBe(true);
  });

  it('runs one action at a time, in the order asked, whether the one before succeeded or failed', async () => {
    const events: string[] = [];
    const slow = (label: string, fail = false): ServiceAction => ({
      summary: label,
      run: async () => {
        events.push(`${label} start`);
        await later(30);
        events.push(`${label} end`);
        if (fail) throw new Error(`${label} failed`);
        return label;
      },
    });
    const r = runner({ a: slow('a', true), b: slow('b'), c: slow('c') });
    const results = await Promise.allSettled([r.run('a', {}), r.run('b', {}), r.run('c', {})]);
    expect(events).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    expect(results.map((x) => x.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });

  it("scrubs an action's secret input from log lines and its error while it runs, then forgets it", async () => {
    const redactor = new Redactor();
    redactor.add('configured-secret-1');
    const password = 'correct horse battery 9';
    const logged: string[] = [];
    const r = new ActionRunner(
      'fixture',
      () => ({
        'set-password': {
          summary: 'set a password',
          secrets: ['password'],
          input: v.object({ user: v.string(), password: v.string() }),
          run: async (input) => {
            // What a log line quoting a daemon's complaint would carry.
            logged.push(redactor.scrub(`doveadm pw -p ${String(input.password)}: failed`));
            throw new Error(`checker refused ${String(input.password)}`);
          },
        },
      }),
      () => 'ready',
      memoryLogger().logger,
      redactor,
    );
    const failure = await r.run('set-password', { user: 'alice', password }).catch((err: Error) => err);
    expect(logged).toEqual(['doveadm pw -p [REDACTED]: failed']);
    expect((failure as Error).message).toBe('checker refused [REDACTED]');
    expect((failure as Error).stack).not.toContain(password);
    // Forgotten afterwards (the set does not grow per user); the configured secret stays.
    expect(redactor.size).toBe(1);
    expect(redactor.scrub(password)).toBe(password);
    expect(redactor.scrub('configured-secret-1')).toBe('[REDACTED]');
  });
});
