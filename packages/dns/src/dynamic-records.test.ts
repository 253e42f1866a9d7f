import { BadRequest, Conflict, RequestFailed, Unavailable } from '@podserve/runtime';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { DynamicRecords, type ServedCheck } from './dynamic-records.js';
import { type Rndc, whileFrozen } from './frozen.js';
import { DnsService } from './service.js';
import { dnsSettings } from './settings.js';
import { parseLine, type RecordLine } from './zone-store.js';

const settings = dnsSettings({
  DOMAIN: 'example.test',
  DNS_PORT: 53,
  DNS_STATE_DIR: '/nonexistent/state',
  DNS_RUN_DIR: '/nonexistent/run',
  DNS_UPDATE_KEY_NAME: 'acme-update',
  DNS_TRANSFER_KEY_NAME: 'transfer',
  DNS_RECURSION_CLIENTS: [],
} as never);

/**
 * The record actions with the zone's records given as canonical lines, nsupdate recorded
 * (never run) and named's answer decided by `served`.
 */
function actions(options: { configured?: string[]; dynamic?: string[]; served?: ServedCheck } = {}) {
  const { logger, records: logged } = memoryLogger();
  const sent: string[] = [];
  const store = {
    staticNow: async (): Promise<RecordLine[]> => (options.configured ?? []).map(parseLine),
    dynamicNow: async (): Promise<RecordLine[]> => (options.dynamic ?? []).map(parseLine),
  };
  const commands = {
    run: async (_argv: string[], opts: { input?: string }) => {
      sent.push(opts.input ?? '');
      return { exitCode: 0, stdout: '', stderr: '' };
    },
  };
  const dynamic = new DynamicRecords(
    settings,
    store as never,
    commands as never,
    logger as never,
    options.served ?? (async () => true),
  );
  const errors = () => logged.filter((r) => (r.level as number) >= 50);
  return { dynamic, sent, errors };
}

describe('the record actions’ answers', () => {
  it.each([
    [{ name: 'api', type: 'A', value: '300.1.1.1' }, /"300\.1\.1\.1" is not an IPv4 address/],
    [{ name: 'api', type: 'NS', value: 'ns9' }, /type= must be one of A, AAAA, CNAME, MX, TXT, SRV, CAA; found "NS"/],
    [{ type: 'A', value: '192.0.2.1' }, /name= is required/],
    [{ name: 'api', type: 'A' }, /value= is required/],
    [{ name: 'elsewhere.example.net.', type: 'A', value: '192.0.2.1' }, /is not in the zone example\.test/],
    [{ name: 'note', type: 'TXT', value: 'a\rb' }, /carriage return/],
  ])('refuses %j as the caller’s mistake (400), sends nothing and logs no error', async (input, why) => {
    const { dynamic, sent, errors } = actions();
    const refused = await dynamic.add(input).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BadRequest);
    expect((refused as Error).message).toMatch(why);
    expect(sent).toEqual([]);
    expect(errors()).toEqual([]);
  });

  it('answers 409 for a record the configuration sets, or one beside a configured CNAME', async () => {
    const { dynamic, sent } = actions({
      configured: ['www.example.test. 300 IN A 192.0.2.1', 'blog.example.test. 300 IN CNAME www.example.test.'],
    });
    await expect(dynamic.add({ name: 'www', type: 'A', value: '192.0.2.8' })).rejects.toThrow(Conflict);
    await expect(dynamic.add({ name: 'blog', type: 'TXT', value: 'x' })).rejects.toThrow(Conflict);
    await expect(dynamic.remove({ name: 'www', type: 'A' })).rejects.toThrow(Conflict);
    expect(sent).toEqual([]);
  });

  it('refuses other data beside a dynamic CNAME, and a CNAME beside dynamic data, before sending it (409)', async () => {
    const { dynamic, sent } = actions({
      dynamic: ['alias.example.test. 300 IN CNAME www.example.test.', 'data2.example.test. 300 IN TXT "x"'],
    });
    await expect(dynamic.add({ name: 'alias', type: 'A', value: '192.0.2.3' })).rejects.toThrow(
      /alias\.example\.test\. is a CNAME \(to www\.example\.test\.\): a A record beside it would be ignored/,
    );
    await expect(dynamic.add({ name: 'data2', type: 'CNAME', value: 'www' })).rejects.toThrow(
      /data2\.example\.test\. has TXT data: a CNAME cannot share its name/,
    );
    await expect(dynamic.add({ name: 'data2', type: 'CNAME', value: 'www' })).rejects.toBeInstanceOf(Conflict);
    expect(sent).toEqual([]);
    // A second record of the same type, and a CNAME replacing a CNAME, are fine.
    await expect(dynamic.add({ name: 'data2', type: 'TXT', value: 'y' })).resolves.toEqual({
      added: 'data2.example.test. 300 IN TXT "y"',
    });
    await expect(dynamic.add({ name: 'alias', type: 'CNAME', value: 'mail' })).resolves.toMatchObject({});
    expect(sent).toHaveLength(2);
  });

  it('reports a failure (500) when named took the update but does not serve the record', async () => {
    const asked: string[] = [];
    const { dynamic, sent } = actions({
      served: async (owner, type, data) => {
        asked.push(`${owner} ${type} ${data}`);
        return false;
      },
    });
    const failed = await dynamic.add({ name: 'api', type: 'A', value: '192.0.2.7' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(RequestFailed);
    expect((failed as Error).message).toMatch(/does not serve api\.example\.test\. A 192\.0\.2\.7/);
    expect(sent).toHaveLength(1);
    expect(asked[0]).toBe('api.example.test. A 192.0.2.7');
  }, 10_000);
});

describe('the dns service before it has started', () => {
  it('answers its actions with 503 (Unavailable), not a failure', async () => {
    const service = new DnsService({ supervisor: { get: () => undefined } } as never);
    const run = service.actions();
    for (const [name, input] of [
      ['records', {}],
      ['record-add', { name: 'api', type: 'A', value: '192.0.2.7' }],
      ['record-remove', { name: 'api', type: 'A' }],
      ['ds', {}],
    ] as const) {
      await expect(run[name]?.run(input)).rejects.toBeInstanceOf(Unavailable);
    }
  });
});

describe('a frozen zone', () => {
  const rndcLog = (fail: (args: string[], call: number) => boolean = () => false) => {
    const calls: string[] = [];
    const rndc: Rndc = async (args) => {
      calls.push(args.join(' '));
      return !fail(args, calls.length);
    };
    return { calls, rndc };
  };
  const { logger } = memoryLogger();

  it('is thawed when the work fails or throws', async () => {
    const failing = rndcLog();
    expect(
      await whileFrozen(failing.rndc, 'example.test', new AbortController().signal, logger, async () => false),
    ).toBe(false);
    expect(failing.calls).toEqual(['freeze example.test', 'thaw example.test']);

    const throwing = rndcLog();
    const work = async (): Promise<boolean> => {
      throw new Error('disk full');
    };
    await expect(
      whileFrozen(throwing.rndc, 'example.test', new AbortController().signal, logger, work),
    ).rejects.toThrow('disk full');
    expect(throwing.calls).toEqual(['freeze example.test', 'thaw example.test']);
  });

  it('is not frozen once the stop has begun, and thawed without the change when the stop comes while frozen', async () => {
    const stopped = new AbortController();
    stopped.abort();
    const before = rndcLog();
    let ran = false;
    const work = async () => {
      ran = true;
      return true;
    };
    expect(await whileFrozen(before.rndc, 'example.test', stopped.signal, logger, work)).toBe(false);
    expect(before.calls).toEqual([]);
    expect(ran).toBe(false);

    const stopping = new AbortController();
    const during = rndcLog((args) => {
      if (args[0] === 'freeze') stopping.abort(); // the stop arrives while rndc freeze runs
      return false;
    });
    expect(await whileFrozen(during.rndc, 'example.test', stopping.signal, logger, work)).toBe(false);
    expect(during.calls).toEqual(['freeze example.test', 'thaw example.test']);
    expect(ran).toBe(false);
  });

  it('retries a thaw named refused, and tries one after a freeze that failed', async () => {
    const busy = rndcLog((args, call) => args[0] === 'thaw' && call === 2);
    expect(await whileFrozen(busy.rndc, 'example.test', new AbortController().signal, logger, async () => true)).toBe(
      true,
    );
    expect(busy.calls).toEqual(['freeze example.test', 'thaw example.test', 'thaw example.test']);

    const timedOut = rndcLog((args) => args[0] === 'freeze');
    expect(
      await whileFrozen(timedOut.rndc, 'example.test', new AbortController().signal, logger, async () => true),
    ).toBe(false);
    expect(timedOut.calls).toEqual(['freeze example.test', 'thaw example.test']);
  });
});
