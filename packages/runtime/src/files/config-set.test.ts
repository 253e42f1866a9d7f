import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../../test/support/memory-logger.js';
import { tempDir } from '../../../../test/support/processes.js';
import { type CheckResult, ConfigSet, type ConfigSetHooks, ConfigTransaction } from './config-set.js';
import { DryRunFileOps } from './file-ops.js';

const run = promisify(execFile);
let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('podserve-configset-');
});
afterEach(() => dir.cleanup());

/** BIND's own checker, the real thing: it reports `file:line: message`. */
async function namedCheckconf(setDir: string): Promise<CheckResult> {
  try {
    await run('named-checkconf', [join(setDir, 'named.conf')]);
    return { ok: true };
  } catch (err) {
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`.trim();
    return { ok: false, message: out.split('\n')[0] ?? 'named-checkconf failed' };
  }
}

function namedSet(options: () => string, extra: Partial<ConfigSetHooks> = {}) {
  const { logger, records } = memoryLogger();
  const calls: string[] = [];
  const set = new ConfigSet(
    join(dir.path, 'conf'),
    {
      render: (d) => [
        { path: 'named.conf', content: `include "${d}/options.conf";\n` },
        { path: 'options.conf', content: `options {\n  directory "${dir.path}";\n${options()}};\n` },
      ],
      check: namedCheckconf,
      reload: async () => {
        calls.push('reload');
        return true;
      },
      confirm: async () => {
        calls.push('confirm');
        return true;
      },
      ...extra,
    },
    logger,
  );
  return { set, records, calls };
}

const generations = () => readdirSync(join(dir.path, 'conf')).filter((e) => e.startsWith('gen-'));

describe('ConfigSet', () => {
  it('checks the staged set with the daemon checker, swaps it in, reloads, confirms; an unchanged set is a no-op', async () => {
    let opts = '  recursion no;\n';
    const { set, calls } = namedSet(() => opts);
    const first = await set.commit('start', { firstStart: true });
    expect(first).toMatchObject({ ok: true, changed: true });
    expect(calls).toEqual([]); // nothing to reload before the daemon runs
    const live = join(dir.path, 'conf', 'current');
    expect(readFileSync(join(live, 'named.conf'), 'utf8')).toBe(
      `include "${join(dir.path, 'conf', readlinkSync(live))}/options.conf";\n`,
    );

    expect(await set.commit('nothing changed')).toMatchObject({ ok: true, changed: false });
    expect(calls).toEqual([]);

    opts = '  recursion no;\n  notify no;\n';
    const second = await set.commit('a change');
    expect(second).toMatchObject({ ok: true, changed: true });
    expect(calls).toEqual(['reload', 'confirm']);
    expect(readFileSync(join(live, 'options.conf'), 'utf8')).toContain('notify no;');
    expect(generations()).toHaveLength(2); // the current one and the one to fall back to
  });

  it("refuses a set its checker rejects, with the checker's file:line message, and leaves the live set alone", async () => {
    let opts = '  recursion no;\n';
    const { set, calls } = namedSet(() => opts);
    await set.commit('start', { firstStart: true });
    const before = set.currentGeneration();
    opts = '  recursion no;\n  bogus-option yes;\n';
    const outcome = await set.commit('a typo');
    expect(outcome).toMatchObject({ ok: false, stage: 'check' });
    if (outcome.ok) return;
    expect(outcome.message).toMatch(/options\.conf:4: unknown option 'bogus-option'/);
    expect(set.lastError).toBe(outcome.message);
    expect(set.currentGeneration()).toBe(before);
    expect(calls).toEqual([]); // the daemon was never asked to reload
    expect(generations()).toEqual([before]);

    opts = '  recursion yes;\n';
    expect(await set.commit('fixed')).toMatchObject({ ok: true });
    expect(set.lastError).toBeNull();
  });

  it('restores the previous set and reloads it again when the reload or the confirmation fails', async () => {
    let opts = '  recursion no;\n';
    const results = { reload: [true], confirm: [true] };
    const calls: string[] = [];
    const { set } = namedSet(() => opts, {
      reload: async () => {
        calls.push('reload');
        return results.reload.shift() ?? true;
      },
      confirm: async () => {
        calls.push('confirm');
        return results.confirm.shift() ?? true;
      },
    });
    await set.commit('start', { firstStart: true });
    const good = set.currentGeneration();

    opts = '  recursion yes;\n';
    results.reload = [false, true];
    expect(await set.commit('reload refused')).toMatchObject({ ok: false, stage: 'reload' });
    expect(set.currentGeneration()).toBe(good);
    expect(calls).toEqual(['reload', 'reload']); // the new one, then the restored one
    // Readiness reads lastError: the restored set serves, but the change was refused.
    expect(set.lastError).toMatch(/did not take the new configuration \(reload failed\)/);

    calls.length = 0;
    results.reload = [true, true];
    results.confirm = [false];
    expect(await set.commit('daemon died after reload')).toMatchObject({ ok: false, stage: 'confirm' });
    expect(set.currentGeneration()).toBe(good);
    expect(calls).toEqual(['reload', 'confirm', 'reload']);
    expect(existsSync(join(dir.path, 'conf', good ?? ''))).toBe(true);
    expect(set.lastError).toMatch(/stopped answering after the reload/);

    // Only a commit that goes through clears it.
    results.reload = [true];
    results.confirm = [true];
    opts = '  recursion no;\n  notify no;\n';
    expect(await set.commit('fixed')).toMatchObject({ ok: true, changed: true });
    expect(set.lastError).toBeNull();
  });

  it('runs commits one at a time', async () => {
    let n = 0;
    const order: string[] = [];
    const { set } = namedSet(() => `  recursion no;\n  # ${++n}\n`, {
      reload: async () => {
        order.push('reload-start');
        await new Promise((r) => setTimeout(r, 50));
        order.push('reload-end');
        return true;
      },
    });
    await set.commit('start', { firstStart: true });
    await Promise.all([set.commit('a'), set.commit('b')]);
    expect(order).toEqual(['reload-start', 'reload-end', 'reload-start', 'reload-end']);
  });

  it('previews a set with the checker’s verdict without touching the live one', async () => {
    const { set } = namedSet(() => '  bogus yes;\n');
    const plan = new DryRunFileOps();
    const verdict = await set.preview(plan);
    expect(plan.files.map((f) => basename(f.path))).toEqual(['named.conf', 'options.conf']);
    expect(plan.files[1]?.content).toContain('bogus yes;');
    expect(verdict).toMatchObject({ ok: false, message: expect.stringMatching(/unknown option 'bogus'/) });
    expect(existsSync(join(dir.path, 'conf'))).toBe(false);
    // The scratch directory the checker read is gone again.
    expect(existsSync(join(plan.files[0]?.path ?? '/nonexistent', '..'))).toBe(false);
  });

  it('compiles derived files beside the rendered ones without every commit looking changed', async () => {
    let zone = '@ 300 IN SOA ns root 1 60 60 600 60\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n';
    const compiled: string[] = [];
    const { set, calls } = namedSet(() => '  recursion no;\n', {
      render: (d) => [
        {
          path: 'named.conf',
          content: `options { directory "${d}"; };\nzone "example.test" { type primary; file "${d}/example.raw"; masterfile-format raw; };\n`,
        },
        { path: 'example.zone', content: zone },
      ],
      // The real compiler: the raw zone named loads is written from the rendered text zone.
      compile: async (d) => {
        compiled.push(d);
        await run('named-compilezone', [
          '-q',
          '-f',
          'text',
          '-F',
          'raw',
          '-o',
          join(d, 'example.raw'),
          'example.test',
          join(d, 'example.zone'),
        ]);
      },
    });
    expect(await set.commit('start', { firstStart: true })).toMatchObject({ ok: true, changed: true });
    expect(existsSync(join(set.current, 'example.raw'))).toBe(true);
    expect(await set.commit('nothing changed')).toMatchObject({ ok: true, changed: false });
    expect(calls).toEqual([]);
    expect(compiled).toHaveLength(1);

    zone += 'www 300 IN A 192.0.2.2\n';
    expect(await set.commit('a record')).toMatchObject({ ok: true, changed: true });
    expect(calls).toEqual(['reload', 'confirm']);

    zone += 'www 300 IN BOGUS x\n';
    const refused = await set.commit('a bad record');
    expect(refused).toMatchObject({ ok: false, stage: 'render' });
    expect(set.lastError).toMatch(/^compiling the conf configuration failed: .*named-compilezone/);
    expect(calls).toEqual(['reload', 'confirm']);
  });
});

describe('ConfigTransaction', () => {
  /** Two named sets standing in for two daemons: one commit switches both or neither. */
  function twoSets(options: { a: () => string; b: () => string }, reloads: Record<'a' | 'b', boolean[]>) {
    const { logger } = memoryLogger();
    const calls: string[] = [];
    const make = (name: 'a' | 'b') =>
      new ConfigSet(
        join(dir.path, name),
        {
          render: (d) => [{ path: 'named.conf', content: `options {\n  directory "${d}";\n${options[name]()}};\n` }],
          check: namedCheckconf,
          reload: async () => {
            calls.push(`reload ${name}`);
            return reloads[name].shift() ?? true;
          },
        },
        logger,
      );
    const sets = [make('a'), make('b')] as const;
    return { tx: new ConfigTransaction(sets, logger), sets, calls };
  }

  it('checks every set before any goes live, and puts all back when one daemon refuses the reload', async () => {
    let a = '  recursion no;\n';
    let b = '  recursion no;\n';
    const reloads = { a: [] as boolean[], b: [] as boolean[] };
    const { tx, sets, calls } = twoSets({ a: () => a, b: () => b }, reloads);
    expect(await tx.commit('start', { firstStart: true })).toMatchObject({ ok: true, changed: true });
    const first = sets.map((s) => s.currentGeneration());

    // b's checker refuses: a is not switched either, nothing reloads.
    a = '  recursion yes;\n';
    b = '  bogus yes;\n';
    const refused = await tx.commit('bad b');
    expect(refused).toMatchObject({
      ok: false,
      stage: 'check',
      message: expect.stringMatching(/unknown option 'bogus'/),
    });
    expect(sets.map((s) => s.currentGeneration())).toEqual(first);
    expect(calls).toEqual([]);
    expect(tx.lastError).toMatch(/unknown option 'bogus'/);

    // b's reload fails after a took the new set: both back, both reloaded again.
    b = '  recursion yes;\n';
    reloads.b = [false];
    const failed = await tx.commit('b fails to reload');
    expect(failed).toMatchObject({ ok: false, stage: 'reload', message: expect.stringMatching(/^b did not take/) });
    expect(sets.map((s) => s.currentGeneration())).toEqual(first);
    expect(calls).toEqual(['reload a', 'reload b', 'reload a', 'reload b']);
    expect(readdirSync(join(dir.path, 'a')).filter((e) => e.startsWith('gen-'))).toEqual([first[0]]);

    // Only b changed: only b reloads; a success clears the error.
    calls.length = 0;
    a = '  recursion no;\n';
    expect(await tx.commit('b only')).toMatchObject({ ok: true, changed: true });
    expect(calls).toEqual(['reload b']);
    expect(sets[0].currentGeneration()).toBe(first[0]);
    expect(tx.lastError).toBeNull();
  });
});
