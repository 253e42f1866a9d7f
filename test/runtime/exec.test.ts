// exec and cert-watch as a careless user meets them (issue #8): leftovers, second signals,
// --help, a volume that is not there yet.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, distMain, isolatedEnv, runToEnd, start, tempDir } from '../support/processes.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
function sandboxEnv(): { dir: string; env: NodeJS.ProcessEnv } {
  const d = tempDir('podserve-exec-');
  dirs.push(d);
  return { dir: d.path, env: isolatedEnv(d.path) };
}
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

const pidsStarted: number[] = [];
afterEach(() => {
  for (const pid of pidsStarted.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

async function gone(pid: number, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return !alive(pid);
}

describe('exec', () => {
  it('ends what the command left in its process group when the command exits', async () => {
    const { env } = sandboxEnv();
    // The background child prints its pid, so the test can look for exactly that process.
    const result = await runToEnd(
      ['node', distMain, 'exec', '--', 'sh', '-c', 'sleep 301 & echo "bg=$!"; exit 0'],
      env,
    );
    const pid = Number(/bg=(\d+)/.exec(result.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    pidsStarted.push(pid);
    expect(result.code).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(result.stdout).toContain('the process exited but left others in its group; sending them SIGTERM');
  });

  it('SIGKILLs leftovers that ignore the stop signal once EXEC_STOP_TIMEOUT has passed', async () => {
    const { dir, env } = sandboxEnv();
    const trapped = join(dir, 'trapped');
    const started = Date.now();
    // The command exits only once its leftover ignores SIGTERM: on a loaded host the leftover
    // could otherwise get the stop signal before its trap was set, and die of it at once.
    const leftover = `sh -c 'trap "" TERM; touch ${trapped}; sleep 300' & echo "bg=$!"`;
    const result = await runToEnd(
      [
        'node',
        distMain,
        'exec',
        '--',
        'sh',
        '-c',
        `${leftover}; while [ ! -e ${trapped} ]; do sleep 0.01; done; exit 0`,
      ],
      { ...env, EXEC_STOP_TIMEOUT: '1s' },
    );
    const pid = Number(/bg=(\d+)/.exec(result.stdout)?.[1]);
    pidsStarted.push(pid);
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(900);
    // Killed before the runtime exited; its zombie is then reaped by whoever inherits it.
    expect(await gone(pid)).toBe(true);
    expect(result.stdout).toContain('its group did not end within 1000 ms; sending SIGKILL');
  });

  it('passes on a second signal during the stop: SIGINT, then SIGTERM to a TERM-trapping child → exit 0 at once', async () => {
    const { env } = sandboxEnv();
    const run = start(
      ['node', distMain, 'exec', '--', 'sh', '-c', 'trap "" INT; trap "exit 0" TERM; while :; do sleep .1; done'],
      env,
    );
    await run.waitFor((r) => r.stdout().includes('exec ready'), 10_000, 'exec to be ready');
    const pid = run.child.pid as number;
    process.kill(pid, 'SIGINT');
    await run.waitFor((r) => r.stdout().includes('stopping with SIGINT'), 5_000, 'the stop to begin');
    const sent = Date.now();
    process.kill(pid, 'SIGTERM');
    const exit = await run.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - sent).toBeLessThan(2_000);
    expect(run.stdout()).toContain('SIGTERM received while stopping');
  });

  it('keeps its event loop free when nobody reads its stdout: stops on SIGTERM at once, the drop counted', async () => {
    const { dir, env } = sandboxEnv();
    // stdout is a pipe (as under podman) that this test never reads: a blocking write would
    // freeze PID 1 once the pipe is full.
    const fifo = join(dir, 'stdout.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, 'w');
    try {
      const child = spawn(
        process.execPath,
        [distMain, 'exec', '--output=log', '--', 'sh', '-c', 'while :; do echo spam-spam-spam-spam; done'],
        {
          env: { ...process.env, ...env, LOG_LEVEL: 'info' },
          stdio: ['ignore', writer, 'ignore'],
        },
      );
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await new Promise((r) => setTimeout(r, 3_000));
      const probe = await runToEnd(['node', distMain, 'health', 'liveness', 'exec'], {
        PODSERVE_RUN_DIR: join(dir, 'run'),
      });
      expect(probe.code, probe.stderr).toBe(0);
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(143); // the command's own end, passed on
      expect(Date.now() - sent).toBeLessThan(5_000);
      // The log file got the records stdout could not take, and says how many were dropped there.
      const file = readFileSync(join(dir, 'logs', 'exec', 'exec.log'), 'utf8');
      expect(file).toMatch(/log record\(s\) were dropped: stdout did not keep up/);
    } finally {
      closeSync(reader);
      closeSync(writer);
    }
  }, 30_000);

  it.each([['exec'], ['health']])('%s --help prints its usage and exits 0', async (command) => {
    const result = await runToEnd(['node', distMain, command, '--help'], { PODSERVE_RUN_DIR: '/nonexistent' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${command}: `));
    expect(result.stdout).toContain(`Usage: node dist/main.js ${command}`);
  });
});

describe('cert-watch', () => {
  it('waits for a CERT_PATH that does not exist yet instead of exiting, and its status never claims ready', async () => {
    const { dir, env } = sandboxEnv();
    const certPath = join(dir, 'certs-later');
    const run = start(['node', distMain, 'cert-watch'], { ...env, CERT_PATH: certPath });
    await run.waitFor((r) => r.stdout().includes('waiting for CERT_PATH'), 5_000, 'the waiting line');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(run.child.exitCode).toBeNull();
    const statusFile = join(dir, 'run', 'cert-watch.json');
    const status = JSON.parse(readFileSync(statusFile, 'utf8'));
    expect(status.readiness.ok).toBe(false);
    expect(JSON.stringify(status.readiness)).toContain(`${certPath} does not exist yet`);

    // The volume appears (empty): the watch starts; still not ready without a pair.
    mkdirSync(certPath);
    await run.waitFor((r) => r.stdout().includes('no certificate published yet; waiting for one'), 5_000, 'the watch');
    process.kill(run.child.pid as number, 'SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect(existsSync(statusFile)).toBe(false);
  });

  it('removes its status file even when the process is ended by a crash', async () => {
    const { dir, env } = sandboxEnv();
    const statusFile = join(dir, 'run', 'exec.json');
    // An uncaught error in PID 1 is simulated by NODE_OPTIONS loading a module that throws later.
    const crash = join(dir, 'crash.cjs');
    writeFileSync(crash, "setTimeout(() => { throw new Error('boom'); }, 1500);\n");
    const run = start(['node', distMain, 'exec', '--', 'sleep', '30'], { ...env, NODE_OPTIONS: `--require ${crash}` });
    await run.waitFor(() => existsSync(statusFile), 5_000, 'the status file');
    const exit = await run.exited;
    expect(exit.code).not.toBe(0);
    expect(existsSync(statusFile)).toBe(false);
  });
});
