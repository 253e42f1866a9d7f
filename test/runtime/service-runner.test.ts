import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distMain, fixtureService, isolatedEnv, runToEnd, start, tempDir, tsxNode } from '../support/processes.js';

let dir: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  dir = tempDir();
  env = { ...isolatedEnv(dir.path), FIXTURE_DIR: join(dir.path, 'conf') };
});
afterEach(() => dir.cleanup());

const fixture = [...tsxNode, fixtureService];

function processes(...specs: object[]): string {
  return JSON.stringify(specs);
}

async function probe(kind: 'liveness' | 'readiness', service = 'fixture') {
  return runToEnd(['node', distMain, 'health', kind, service], { PODSERVE_RUN_DIR: join(dir.path, 'run') });
}

describe('configuration errors', () => {
  it('reports every bad variable in one message, exits 78 and writes nothing', async () => {
    const result = await runToEnd(fixture, {
      ...env,
      FIXTURE_PORT: 'eighty',
      FIXTURE_STEP_RESULT: 'maybe',
      LOG_FORMAT: 'fancy',
    });
    expect(result.code).toBe(78);
    const fatal = result.records.filter((r) => r.level === 'fatal');
    expect(fatal).toHaveLength(1);
    const msg = String(fatal[0]?.msg);
    expect(msg).toContain('invalid configuration for fixture (3 problems)');
    expect(msg).toContain('FIXTURE_PORT: expected an integer from 1 to 65535; found "eighty"');
    expect(msg).toContain('FIXTURE_STEP_RESULT: expected one of true, false, undefined, throw; found "maybe"');
    expect(msg).toContain('LOG_FORMAT: expected one of json, pretty; found "fancy"');
    expect(existsSync(join(dir.path, 'conf'))).toBe(false);
    expect(existsSync(join(dir.path, 'logs'))).toBe(false);
  });

  it('applies <SERVICE>_LOG_LEVEL over LOG_LEVEL', async () => {
    const result = await runToEnd([...fixture, '--dry-run'], {
      ...env,
      LOG_LEVEL: 'error',
      FIXTURE_LOG_LEVEL: 'debug',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('"level":"debug"');
  });
});

describe('lifecycle steps', () => {
  it.each([
    ['undefined', /configure of fixture failed: it returned undefined \(expected true\)/],
    ['false', /configure of fixture failed: it returned false \(expected true\)/],
    ['throw', /configure of fixture failed: configure exploded on purpose/],
  ])('a configure() that resolves %s fails with exit 73 and says which step', async (value, message) => {
    const result = await runToEnd(fixture, { ...env, FIXTURE_STEP_RESULT: value });
    expect(result.code).toBe(73);
    const error = result.records.find((r) => r.level === 'error' && r.step === 'configure');
    expect(String(error?.msg)).toMatch(message);
    expect(existsSync(join(dir.path, 'run', 'fixture.json'))).toBe(false);
  });

  it('a process that cannot start fails startProcesses with exit 69', async () => {
    const result = await runToEnd(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({ name: 'ghost', command: '/nonexistent/daemon', restart: 'never' }),
    });
    expect(result.code).toBe(69);
    expect(result.stdout).toContain('startProcesses of fixture failed');
  });
});

describe('dry run', () => {
  it('prints every config the service would write and touches nothing', async () => {
    const result = await runToEnd([...fixture, '--dry-run'], { ...env, FIXTURE_PORT: '9090' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `# ---- ${join(dir.path, 'conf', 'app.conf')} (mode 0644)\nport 9090\ngreeting hello\n`,
    );
    expect(result.stdout).toContain(`# directory ${join(dir.path, 'conf')} (mode 0755)`);
    expect(existsSync(join(dir.path, 'conf'))).toBe(false);
    expect(existsSync(join(dir.path, 'logs'))).toBe(false);
  });

  it('writes the rendered files under --output instead', async () => {
    const out = join(dir.path, 'out');
    const result = await runToEnd([...fixture, '--dry-run', '--output', out], env);
    expect(result.code).toBe(0);
    expect(readFileSync(join(out, dir.path, 'conf', 'app.conf'), 'utf8')).toBe('port 8080\ngreeting hello\n');
    expect(existsSync(join(dir.path, 'conf'))).toBe(false);
  });
});

describe('running service', () => {
  it('becomes ready, answers probes, and stops gracefully on SIGTERM with exit 0', async () => {
    const run = start(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({ name: 'worker', command: 'sleep', args: ['1000'] }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    expect(readFileSync(join(dir.path, 'conf', 'app.conf'), 'utf8')).toBe('port 8080\ngreeting hello\n');

    const ready = await probe('readiness');
    expect(ready.code).toBe(0);
    expect(ready.stdout).toBe('fixture: ready: 1 process(es) running\n');
    expect((await probe('liveness')).code).toBe(0);

    const workerPid = run.records().find((r) => r.proc === 'worker' && typeof r.pid === 'number')?.pid as number;
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(() => process.kill(workerPid, 0)).toThrow();
    expect(run.stdout()).toContain('SIGTERM: stopping fixture');
    // The status is gone with the service, so probes fail with a reason.
    const after = await probe('readiness');
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/fixture: not ready: no status at .*fixture\.json/);
  });

  it('publishes a readiness change the service reports at once, not at the next 15 s re-check', async () => {
    const run = start(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({ name: 'worker', command: 'sleep', args: ['1000'] }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    expect((await probe('readiness')).code).toBe(0);
    for (const expected of [1, 0]) {
      const sent = Date.now();
      run.child.kill('SIGUSR2');
      for (;;) {
        const result = await probe('readiness');
        if (result.code === expected) {
          if (expected === 1) expect(result.stderr).toBe('fixture: not ready: degraded by SIGUSR2\n');
          break;
        }
        expect(Date.now() - sent).toBeLessThan(3_000);
      }
    }
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  });

  it('fails liveness with a reason when its event loop stops, and recovers when it runs again', async () => {
    const run = start(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({ name: 'worker', command: 'sleep', args: ['1000'] }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const pid = run.child.pid ?? 0;
    process.kill(pid, 'SIGSTOP');
    try {
      // The heartbeat is every 5 s and counts as stale after 15 s.
      await new Promise((r) => setTimeout(r, 16_000));
      const stuck = await probe('liveness');
      expect(stuck.code).toBe(1);
      expect(stuck.stderr).toMatch(/^fixture: not alive: status not refreshed for 1\d s: event loop stuck\?\n$/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await run.waitFor(() => true);
    const deadline = Date.now() + 10_000;
    while ((await probe('liveness')).code !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await probe('liveness')).code).toBe(0);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  }, 60_000);

  it('reloads its processes on SIGHUP', async () => {
    const marker = join(dir.path, 'hup');
    const run = start(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({
        name: 'daemon',
        command: 'sh',
        args: ['-c', `trap "touch ${marker}" HUP; touch ${dir.path}/ready; while :; do sleep 0.05; done`],
        readiness: { file: `${dir.path}/ready` },
        reload: { signal: 'SIGHUP' },
      }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    run.child.kill('SIGHUP');
    await run.waitFor(() => existsSync(marker), 5_000, 'the daemon to see SIGHUP');
    await run.waitFor((r) => r.stdout().includes('reload complete'), 5_000, 'reload log');
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });

  it('is not ready while a non-critical process crash-loops, and says why', async () => {
    const run = start(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes(
        { name: 'steady', command: 'sleep', args: ['1000'] },
        {
          name: 'flappy',
          command: 'sh',
          args: ['-c', 'sleep 0.3; exit 4'],
          crashLoopLimit: 2,
          backoff: { initialMs: 50 },
        },
      ),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    await run.waitFor((r) => r.stdout().includes('crash loop'), 10_000, 'crash loop');
    // The status file is refreshed on every state change.
    await new Promise((r) => setTimeout(r, 200));
    const ready = await probe('readiness');
    expect(ready.code).toBe(1);
    expect(ready.stderr).toMatch(
      /fixture: not ready: flappy is failed \(crash loop: ended 2 times.*exited with code 4\)/,
    );
    expect((await probe('liveness')).code).toBe(0);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });

  it('ends with exit 75 when a critical process fails for good', async () => {
    const result = await runToEnd(fixture, {
      ...env,
      FIXTURE_PROCESSES: processes({
        name: 'core',
        command: 'sh',
        args: ['-c', 'sleep 0.2; exit 9'],
        critical: true,
        crashLoopLimit: 2,
        backoff: { initialMs: 20 },
      }),
    });
    expect(result.code).toBe(75);
    expect(result.stdout).toContain('critical process core failed; stopping fixture');
  });
});

describe('stopping', () => {
  it.each([
    ['SIGUSR1', 'unhandled rejection', 'fixture: a rejection nobody handles'],
    ['SIGWINCH', 'uncaught exception', 'fixture: an exception nobody catches'],
  ] as const)(
    'a %s-triggered %s is logged once and stops everything in order with exit 70',
    async (signal, origin, message) => {
      const run = start(fixture, {
        ...env,
        FIXTURE_PROCESSES: processes({ name: 'worker', command: 'sleep', args: ['1000'] }),
      });
      await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
      const workerPid = run.records().find((r) => r.proc === 'worker' && typeof r.pid === 'number')?.pid as number;
      run.child.kill(signal);
      expect(await run.exited).toEqual({ code: 70, signal: null });
      const fatal = run.records().filter((r) => r.level === 'fatal');
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatchObject({ origin, err: message });
      expect(String(fatal[0]?.stack)).toContain(message);
      // The ordered stop ran: the worker was stopped by the runtime, not orphaned.
      expect(run.stdout()).toMatch(/"msg":"fixture stopped"/);
      expect(() => process.kill(workerPid, 0)).toThrow();
    },
  );

  it('a stop that arrives during a reload waits for the reload to finish, then stops with exit 0', async () => {
    const mark = join(dir.path, 'reloaded');
    const run = start(fixture, {
      ...env,
      FIXTURE_RELOAD_MS: '1500',
      FIXTURE_RELOAD_MARK: mark,
      FIXTURE_PROCESSES: processes({ name: 'worker', command: 'sleep', args: ['1000'], reload: { signal: 'SIGHUP' } }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    run.child.kill('SIGHUP');
    await run.waitFor((r) => r.stdout().includes('reload: taking 1500 ms'), 5_000, 'the reload');
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    // The reload finished before the runtime exited: nothing of it runs on after PID 1.
    expect(existsSync(mark)).toBe(true);
    const out = run.stdout();
    expect(out).toContain('reload interrupted by SIGTERM');
    expect(out).toMatch(/waiting up to \d+ ms for the reload in progress before stopping/);
    expect(out.indexOf('reload: done')).toBeLessThan(out.indexOf('stopping with SIGTERM'));
  });

  it('fits the whole stop in STOP_GRACE_PERIOD: graceful, then the fast stop, then SIGKILL, and exits 0', async () => {
    const run = start(fixture, {
      ...env,
      STOP_GRACE_PERIOD: '4',
      FIXTURE_PROCESSES: processes(
        // Ignores its graceful stop (SIGWINCH) and leaves on the fast one (SIGTERM), like a
        // busy apache.
        {
          name: 'slow',
          command: 'sh',
          args: ['-c', 'trap "" WINCH; trap "exit 0" TERM; while :; do sleep 0.1; done'],
          stop: { signal: 'SIGWINCH' },
          fastStop: { signal: 'SIGTERM' },
          fastStopMs: 1_000,
          stopTimeoutMs: 60_000,
        },
        // Ignores everything but SIGKILL, and declares a stop timeout past the grace period.
        {
          name: 'stubborn',
          command: 'sh',
          args: ['-c', 'trap "" TERM; while :; do sleep 0.1; done'],
          stopTimeoutMs: 60_000,
        },
      ),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    const started = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    // 4 s of grace less the runtime's reserve of 1.5 s: done well before a container runtime's SIGKILL.
    expect(Date.now() - started).toBeLessThan(4_000);
    const out = run.stdout();
    expect(out).toContain('stopping fixture within 2500 ms');
    expect(out).toMatch(/"proc":"slow".*graceful stop not done after \d+ ms; sending SIGTERM \(fast stop\)/);
    expect(out).toMatch(/"proc":"stubborn".*did not stop within \d+ ms; sending SIGKILL/);
    expect(out).not.toMatch(/"proc":"slow"[^\n]*sending SIGKILL/);
  });
});

describe('logging', () => {
  it('logs to stdout and the service log file, and redacts secrets everywhere', async () => {
    const secret = 'tok-9f8e7d6c5b4a';
    const run = start(fixture, {
      ...env,
      FIXTURE_API_TOKEN: secret,
      FIXTURE_PROCESSES: processes({
        name: 'leaky',
        command: 'sh',
        // Declared for this child on purpose: what it prints is still scrubbed.
        env: { TOKEN: secret },
        args: ['-c', 'echo "my token is $TOKEN"; exec sleep 1000'],
      }),
    });
    // The child's own line (the config dump at debug level quotes the command too).
    await run.waitFor((r) => r.records().some((rec) => rec.proc === 'leaky' && rec.stream), 20_000, 'child output');
    run.child.kill('SIGTERM');
    await run.exited;
    const stdout = run.stdout();
    expect(stdout).not.toContain(secret);
    expect(stdout).toContain('my token is [REDACTED]');
    expect(stdout).toContain('configured with token [REDACTED]');
    expect(run.records().find((r) => r.msg === 'configured with token [REDACTED]')?.token).toBe('[REDACTED]');
    const file = readFileSync(join(dir.path, 'logs', 'fixture', 'fixture.log'), 'utf8');
    expect(file).toContain('my token is [REDACTED]');
    expect(file).not.toContain(secret);
  });

  it("gives children an explicit environment: the basics and what they declare, never the runtime's variables or secrets", async () => {
    const secret = 'tok-1a2b3c4d5e6f';
    const run = start(fixture, {
      ...env,
      FIXTURE_API_TOKEN: secret,
      TZ: 'Europe/Paris',
      FIXTURE_PROCESSES: processes({
        name: 'envdump',
        command: 'sh',
        env: { DECLARED: 'yes' },
        args: ['-c', 'env | sed "s/^/env: /"; exec sleep 1000'],
      }),
    });
    await run.waitFor((r) => r.records().some((rec) => rec.msg === 'env: DECLARED=yes'), 20_000, 'the env dump');
    run.child.kill('SIGTERM');
    await run.exited;
    const names = run
      .records()
      .filter((r) => r.proc === 'envdump' && String(r.msg).startsWith('env: '))
      .map((r) => String(r.msg).slice(5).split('=')[0] ?? '');
    expect(names).toContain('PATH');
    expect(names).toContain('TZ');
    // sh itself adds PWD (and may add OLDPWD/SHLVL); nothing else may come from the runtime.
    expect(
      names.filter((n) => !['PATH', 'TZ', 'HOME', 'LANG', 'LC_ALL', 'PWD', 'OLDPWD', 'SHLVL', 'DECLARED'].includes(n)),
    ).toEqual([]);
    expect(run.stdout()).not.toContain(secret);
  });

  it('falls back to stdout with one warning when the log dir is not writable', async () => {
    // configure() returning false ends the run right after the logger is set up.
    const live = await runToEnd(fixture, { ...env, LOG_DIR: '/proc/podserve-logs', FIXTURE_STEP_RESULT: 'false' });
    expect(live.code).toBe(73);
    const warnings = live.records.filter((r) => r.level === 'warn' && String(r.msg).includes('is not writable'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toContain('/proc/podserve-logs/fixture/fixture.log');
  });

  it('logs every command with argv, exit code, duration and output when LOG_COMMANDS=true', async () => {
    const run = start(fixture, {
      ...env,
      LOG_COMMANDS: 'true',
      FIXTURE_PROCESSES: processes({
        name: 'checked',
        command: 'sleep',
        args: ['1000'],
        readiness: { command: ['sh', '-c', 'echo probing; exit 0'] },
      }),
    });
    await run.waitFor((r) => r.stdout().includes('fixture ready'), 20_000, 'ready');
    run.child.kill('SIGTERM');
    await run.exited;
    const command = run.records().find((r) => r.msg === 'command finished')?.command as Record<string, unknown>;
    expect(command).toMatchObject({ argv: ['sh', '-c', 'echo probing; exit 0'], exitCode: 0, stdout: 'probing\n' });
    expect(typeof command.durationMs).toBe('number');
  });

  it('logs each rendered config when LOG_CONFIGS=true', async () => {
    const result = await runToEnd(fixture, { ...env, LOG_CONFIGS: 'true', FIXTURE_STEP_RESULT: 'false' });
    const rendered = result.records.find((r) => String(r.msg).startsWith('rendered '));
    expect(rendered).toMatchObject({ content: 'port 8080\ngreeting hello\n', mode: '0644' });
  });
});
