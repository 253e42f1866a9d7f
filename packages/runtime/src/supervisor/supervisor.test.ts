import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../../test/support/memory-logger.js';
import { alive, tempDir } from '../../../../test/support/processes.js';
import { createTempUser } from '../../../../test/support/users.js';
import { CommandRunner } from '../command.js';
import type { ProcessSpec } from './process-spec.js';
import type { ProcessState } from './supervised-process.js';
import { Supervisor } from './supervisor.js';

let dir: ReturnType<typeof tempDir>;
let supervisor: Supervisor;
let records: Array<Record<string, unknown>>;

beforeEach(() => {
  dir = tempDir();
  const mem = memoryLogger();
  records = mem.records;
  supervisor = new Supervisor(mem.logger, new CommandRunner(mem.logger, true));
});

afterEach(async () => {
  await supervisor.stopAll();
  dir.cleanup();
});

const sh = (name: string, script: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
  name,
  command: 'sh',
  args: ['-c', script],
  ...extra,
});

function waitState(name: string, states: ProcessState[], timeoutMs = 10_000): Promise<void> {
  const proc = supervisor.get(name);
  if (!proc) throw new Error(`no process ${name}`);
  return new Promise((resolve, reject) => {
    const check = () => {
      if (states.includes(proc.state)) {
        proc.off('state', check);
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(
      () => reject(new Error(`${name} still ${proc.state} after ${timeoutMs} ms, wanted ${states.join('|')}`)),
      timeoutMs,
    );
    proc.on('state', check);
    check();
  });
}

async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('restart policy', () => {
  it('restarts a failing process with growing backoff, then marks it failed after the crash-loop limit', async () => {
    const exits: number[] = [];
    const proc = supervisor.add(
      sh('crasher', 'exit 3', {
        crashLoopLimit: 4,
        backoff: { initialMs: 60, factor: 2, jitter: 0 },
        readiness: { file: join(dir.path, 'never-ready') },
      }),
    );
    proc.on('exit', () => exits.push(Date.now()));
    expect(await supervisor.startAll()).toBe(false);
    await waitState('crasher', ['failed']);
    expect(proc.restarts).toBe(3);
    expect(proc.reason).toMatch(/crash loop: ended 4 times/);
    expect(proc.lastExit?.code).toBe(3);
    const gaps = exits.slice(1).map((t, i) => t - (exits[i] ?? 0));
    // 60, 120, 240 ms of backoff (plus spawn time): each wait longer than the one before.
    expect(gaps[0]).toBeGreaterThanOrEqual(55);
    expect(gaps[1]).toBeGreaterThan(gaps[0] ?? 0);
    expect(gaps[2]).toBeGreaterThan(gaps[1] ?? 0);
    expect(supervisor.readiness()).toMatchObject({ ok: false, reason: expect.stringContaining('crasher is failed') });
  });

  it('resets the failure count once a start outlives the stability window', async () => {
    const proc = supervisor.add(
      sh('flaky', 'sleep 0.25; exit 1', {
        stabilityWindowMs: 100,
        crashLoopLimit: 2,
        backoff: { initialMs: 20, jitter: 0 },
      }),
    );
    await supervisor.startAll();
    await until(() => proc.restarts >= 4, 10_000);
    // With a limit of 2 it would have failed by now, were the stable runs not resetting the count.
    expect(proc.state).not.toBe('failed');
  });

  it('follows never, on-failure and always for a clean exit', async () => {
    const never = supervisor.add(sh('never', 'exit 0', { restart: 'never' }));
    const onFailure = supervisor.add(sh('on-failure', 'exit 0', { restart: 'on-failure' }));
    const always = supervisor.add(sh('always', 'exit 0', { restart: 'always', backoff: { initialMs: 10 } }));
    await supervisor.startAll();
    await waitState('never', ['exited']);
    await waitState('on-failure', ['exited']);
    await until(() => always.restarts >= 2);
    expect(never.restarts).toBe(0);
    expect(onFailure.restarts).toBe(0);
  });

  it('marks a critical process failure as critical', async () => {
    const critical: string[] = [];
    supervisor.on('critical', (s) => critical.push(s.name));
    supervisor.add(sh('core', 'exit 1', { critical: true, crashLoopLimit: 2, backoff: { initialMs: 10 } }));
    await supervisor.startAll();
    await until(() => critical.length > 0);
    expect(critical).toEqual(['core']);
    expect(supervisor.liveness()).toMatchObject({ ok: false });
  });

  it('counts starts that never become ready, even past the stability window, and fails them', async () => {
    const proc = supervisor.add({
      name: 'mute',
      command: 'sleep',
      args: ['1000'],
      readiness: { file: join(dir.path, 'never'), intervalMs: 20 },
      startTimeoutMs: 300,
      stabilityWindowMs: 100,
      crashLoopLimit: 3,
      backoff: { initialMs: 10, jitter: 0 },
    });
    expect(await supervisor.startAll()).toBe(false);
    expect(proc.state).toBe('failed');
    expect(proc.restarts).toBe(2);
  });

  it('treats a critical process that exited non-zero for good as critical', async () => {
    const critical: string[] = [];
    supervisor.on('critical', (s) => critical.push(s.name));
    supervisor.add(sh('oneshot', 'sleep 0.1; exit 3', { critical: true, restart: 'never' }));
    await supervisor.startAll();
    await until(() => critical.length > 0);
    expect(critical).toEqual(['oneshot']);
    expect(supervisor.liveness()).toMatchObject({ ok: false, reason: expect.stringContaining('oneshot') });
  });

  it('reports a command that cannot be started', async () => {
    const proc = supervisor.add({ name: 'ghost', command: '/nonexistent/daemon', restart: 'never' });
    expect(await supervisor.startAll()).toBe(false);
    expect(proc.state).toBe('exited');
    expect(proc.reason).toMatch(/could not start: spawn \/nonexistent\/daemon ENOENT/);
  });
});

describe('stop', () => {
  it('stops a cooperative process promptly with the stop signal', async () => {
    supervisor.add(
      sh('polite', `trap "exit 0" TERM; touch ${dir.path}/ready; while :; do sleep 0.05; done`, {
        stopTimeoutMs: 5_000,
        readiness: { file: `${dir.path}/ready`, intervalMs: 20 },
      }),
    );
    await supervisor.startAll();
    const started = Date.now();
    await supervisor.stopAll();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(records.some((r) => String(r.msg).includes('SIGKILL'))).toBe(false);
  });

  it('escalates to SIGKILL for the whole process group after the timeout', async () => {
    const pidFile = join(dir.path, 'grandchild.pid');
    // Both the shell and its grandchild ignore SIGTERM (SIG_IGN is inherited across exec).
    const proc = supervisor.add(
      sh('stubborn', `trap "" TERM; sleep 1000 & echo $! > ${pidFile}; wait`, { stopTimeoutMs: 400 }),
    );
    await supervisor.startAll();
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    const leader = proc.pid ?? 0;
    const started = Date.now();
    await supervisor.stopAll();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(380);
    expect(took).toBeLessThan(3_000);
    expect(records.some((r) => String(r.msg).includes('sending SIGKILL to its process group'))).toBe(true);
    await until(() => !alive(grandchild) && !alive(leader));
  });

  it('kills descendants that outlive a leader which obeyed the stop signal', async () => {
    const pidFile = join(dir.path, 'left.pid');
    supervisor.add(
      sh(
        'leaver',
        `(trap "" TERM; exec sleep 1000) & echo $! > ${pidFile}; trap "exit 0" TERM; while :; do sleep 0.05; done`,
        {
          stopTimeoutMs: 300,
        },
      ),
    );
    await supervisor.startAll();
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const leftover = Number(readFileSync(pidFile, 'utf8'));
    await supervisor.stopAll();
    await until(() => !alive(leftover), 3_000);
  });

  it('stops dependents before what they depend on', async () => {
    const order = join(dir.path, 'order');
    // Each touches its ready file only once its trap is set, so the stop cannot beat the trap.
    const daemon = (name: string) =>
      `trap "echo ${name} >> ${order}; exit 0" TERM; touch ${dir.path}/${name}.ready; while :; do sleep 0.05; done`;
    supervisor.add(sh('db', daemon('db'), { readiness: { file: `${dir.path}/db.ready`, intervalMs: 20 } }));
    supervisor.add(
      sh('app', daemon('app'), { dependsOn: ['db'], readiness: { file: `${dir.path}/app.ready`, intervalMs: 20 } }),
    );
    expect(await supervisor.startAll()).toBe(true);
    await supervisor.stopAll();
    expect(readFileSync(order, 'utf8').split('\n').filter(Boolean)).toEqual(['app', 'db']);
  });
});

describe('start order and readiness', () => {
  it('starts a process only after its dependency passed its readiness check', async () => {
    const ready = join(dir.path, 'db-ready');
    const started = join(dir.path, 'app-started');
    supervisor.add(
      sh('db', `sleep 0.4; touch ${ready}; exec sleep 1000`, { readiness: { file: ready, intervalMs: 20 } }),
    );
    supervisor.add(sh('app', `touch ${started}; exec sleep 1000`, { dependsOn: ['db'] }));
    expect(await supervisor.startAll()).toBe(true);
    await until(() => existsSync(started));
    expect(statSync(started).mtimeMs).toBeGreaterThanOrEqual(statSync(ready).mtimeMs);
    expect(supervisor.readiness().ok).toBe(true);
  });

  it('does not start a process whose dependency failed, and says why', async () => {
    supervisor.add(sh('db', 'exit 1', { restart: 'never', readiness: { file: join(dir.path, 'never-ready') } }));
    const app = supervisor.add(sh('app', 'exec sleep 1000', { dependsOn: ['db'] }));
    expect(await supervisor.startAll()).toBe(false);
    expect(app.state).toBe('failed');
    expect(app.pid).toBeNull();
    expect(app.reason).toMatch(/dependency db did not become ready/);
  });

  it('waits for a TCP port with a tcp readiness check', async () => {
    const server = `require('net').createServer().listen(0, '127.0.0.1', function () { require('fs').writeFileSync('${dir.path}/port', String(this.address().port)); })`;
    const portFile = join(dir.path, 'port');
    supervisor.add({ name: 'server', command: process.execPath, args: ['-e', server] });
    await supervisor.startAll();
    await until(() => existsSync(portFile) && readFileSync(portFile, 'utf8') !== '');
    const port = Number(readFileSync(portFile, 'utf8'));
    supervisor.add({ name: 'client', command: 'sleep', args: ['1000'], readiness: { tcp: { port } } });
    expect(await supervisor.startAll()).toBe(true);
  });

  it('kills and counts as failed a start that never becomes ready', async () => {
    const proc = supervisor.add({
      name: 'slow',
      command: 'sleep',
      args: ['1000'],
      readiness: { file: join(dir.path, 'never'), intervalMs: 20 },
      startTimeoutMs: 200,
      restart: 'never',
    });
    expect(await supervisor.startAll()).toBe(false);
    expect(proc.lastExit?.signal).toBe('SIGKILL');
  });

  it('rejects dependency cycles and unknown dependencies with a clear error', async () => {
    supervisor.add(sh('a', 'sleep 1', { dependsOn: ['b'] }));
    supervisor.add(sh('b', 'sleep 1', { dependsOn: ['a'] }));
    await expect(supervisor.startAll()).rejects.toThrow(/dependency cycle: a → b → a/);
  });
});

describe('reload and output', () => {
  it('reloads with the declared signal', async () => {
    const marker = join(dir.path, 'reloaded');
    supervisor.add(
      sh('daemon', `trap "touch ${marker}" HUP; touch ${dir.path}/ready; while :; do sleep 0.05; done`, {
        reload: { signal: 'SIGHUP' },
        readiness: { file: `${dir.path}/ready`, intervalMs: 20 },
      }),
    );
    await supervisor.startAll();
    expect(await supervisor.reloadAll()).toBe(true);
    await until(() => existsSync(marker));
  });

  it('reloads with a declared command', async () => {
    const marker = join(dir.path, 'reload-cmd');
    supervisor.add(sh('daemon', 'exec sleep 1000', { reload: { command: ['touch', marker] } }));
    await supervisor.startAll();
    expect(await supervisor.reloadAll()).toBe(true);
    expect(existsSync(marker)).toBe(true);
    expect(records.some((r) => (r.command as { argv?: string[] } | undefined)?.argv?.[1] === marker)).toBe(true);
  });

  it('captures stdout and stderr line by line, tagged with the process name', async () => {
    writeFileSync(join(dir.path, 'x'), '');
    supervisor.add(sh('talker', 'echo one; echo two >&2; printf "three"; exit 0', { restart: 'never' }));
    await supervisor.startAll();
    await until(() => records.some((r) => r.msg === 'three'));
    await until(() => records.some((r) => r.msg === 'two'));
    // Two pipes: order holds within a stream, not across them.
    const lines = (stream: string) =>
      records.filter((r) => r.proc === 'talker' && r.stream === stream).map((r) => r.msg);
    expect(lines('stdout')).toEqual(['one', 'three']);
    expect(lines('stderr')).toEqual(['two']);
  });
});

describe('a supervisor you can command', () => {
  it('starts a failed process again on request, with a clean failure count', async () => {
    const flag = join(dir.path, 'healthy-now');
    const proc = supervisor.add(
      sh('mender', `[ -e ${flag} ] || exit 2; exec sleep 1000`, {
        crashLoopLimit: 2,
        failedRetryMs: 0,
        backoff: { initialMs: 10, jitter: 0 },
      }),
    );
    await supervisor.startAll();
    await waitState('mender', ['failed']);
    writeFileSync(flag, '');
    expect(await supervisor.require('mender').startOnRequest()).toBe(true);
    expect(proc.state).toBe('running');
    expect(proc.restarts).toBe(2); // one automatic restart, one on request
    expect(() => supervisor.require('nope')).toThrow(/no process "nope"; this service has: mender/);
  });

  it('retries a failed non-critical process slowly after its crash loop', async () => {
    const flag = join(dir.path, 'mended');
    const proc = supervisor.add(
      sh('slow-retry', `[ -e ${flag} ] || exit 2; exec sleep 1000`, {
        crashLoopLimit: 2,
        failedRetryMs: 600,
        backoff: { initialMs: 10, jitter: 0 },
      }),
    );
    await supervisor.startAll();
    await waitState('slow-retry', ['failed']);
    expect(proc.reason).toMatch(/trying again in 1 s/);
    writeFileSync(flag, '');
    await waitState('slow-retry', ['running'], 5_000);
  });

  it('stops on request and stays stopped until started; restart counts', async () => {
    const proc = supervisor.add(sh('worker', 'exec sleep 1000', { restart: 'always' }));
    await supervisor.startAll();
    const first = proc.pid ?? 0;
    await proc.stopOnRequest();
    expect(proc.state).toBe('stopped');
    expect(alive(first)).toBe(false);
    await new Promise((r) => setTimeout(r, 700)); // longer than any restart backoff
    expect(proc.state).toBe('stopped');
    expect(await proc.restartOnRequest()).toBe(true);
    expect(proc.pid).not.toBe(first);
    expect(proc.restarts).toBe(1);
  });

  it('a reload that restarts can never respawn the process in the middle of a shutdown', async () => {
    const proc = supervisor.add(sh('no-reload', 'exec sleep 1000', { restart: 'always' }));
    await supervisor.startAll();
    const reloading = proc.reload(); // no reload method: a restart
    const stopping = supervisor.stopAll();
    await Promise.all([reloading, stopping]);
    await new Promise((r) => setTimeout(r, 300));
    expect(proc.pid).toBeNull();
    expect(['stopped', 'exited']).toContain(proc.state);
  });

  it('sends the stop signal to the main process by default, to the group when declared, or runs a stop command', async () => {
    const log = join(dir.path, 'signals');
    // The child of the shell logs each TERM that reaches it and takes a moment to exit (a daemon
    // finishing its work), so a second TERM sent once the shell has gone would be logged again.
    const script = `(trap "echo child-term >> ${log}; sleep 0.3; exit 0" TERM; touch ${dir.path}/$NAME; while :; do sleep 0.05; done) & trap "exit 0" TERM; wait`;
    supervisor.add(
      sh('main', script, { env: { NAME: 'main' }, readiness: { file: `${dir.path}/main` }, stopTimeoutMs: 3_000 }),
    );
    supervisor.add(
      sh('group', script, {
        env: { NAME: 'group' },
        readiness: { file: `${dir.path}/group` },
        stop: { signal: 'SIGTERM', target: 'group' },
        stopTimeoutMs: 3_000,
      }),
    );
    supervisor.add(
      sh('bycommand', `trap "exit 0" USR2; touch ${dir.path}/bycommand; while :; do sleep 0.05; done`, {
        readiness: { file: `${dir.path}/bycommand` },
        stop: { command: ['sh', '-c', `kill -USR2 $(cat ${dir.path}/bycommand.pid)`] },
      }),
    );
    await supervisor.startAll();
    writeFileSync(`${dir.path}/bycommand.pid`, String(supervisor.require('bycommand').pid));
    await supervisor.require('group').stopOnRequest();
    expect(readFileSync(log, 'utf8')).toBe('child-term\n'); // the group's child got TERM itself
    await supervisor.require('main').stopOnRequest();
    // The main process exited on TERM; its child then got the stop signal as a leftover, once.
    expect(readFileSync(log, 'utf8')).toBe('child-term\nchild-term\n');
    await supervisor.require('bycommand').stopOnRequest();
    expect(supervisor.require('bycommand').lastExit?.code).toBe(0);
    expect(records.some((r) => r.msg === 'stopping with its stop command')).toBe(true);
    expect(records.filter((r) => String(r.msg).includes('SIGKILL')).map((r) => `${r.proc}: ${r.msg}`)).toEqual([]);
  });

  it('keeps checking health after start: failing checks make it unhealthy (not ready), a pass heals it', async () => {
    const ready = join(dir.path, 'answering');
    writeFileSync(ready, '');
    const proc = supervisor.add(
      sh('daemon', 'exec sleep 1000', { readiness: { file: ready }, healthIntervalMs: 50, healthFailures: 2 }),
    );
    await supervisor.startAll();
    expect(supervisor.readiness().ok).toBe(true);
    rmSync(ready);
    await until(() => !proc.healthy, 3_000);
    expect(proc.state).toBe('running');
    expect(supervisor.readiness()).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/daemon is unhealthy \(health check failing 2 times/),
    });
    writeFileSync(ready, '');
    await until(() => proc.healthy, 3_000);
    expect(supervisor.readiness().ok).toBe(true);
  });
});

/** A minimal named.conf in `dir` (a random loopback port, no controls): a real sd_notify daemon. */
function namedConf(dirPath: string): string {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const conf = join(dirPath, 'named.conf');
  writeFileSync(
    conf,
    `options { directory "${dirPath}"; pid-file "${dirPath}/named.pid"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; };\ncontrols { };\n`,
  );
  return conf;
}

describe('daemons: identity and sd_notify', () => {
  it('runs a process as its user with the supplementary groups of the group database', async () => {
    const user = createTempUser();
    try {
      supervisor.add(sh('who', 'echo "ids $(id -u) $(id -g) $(id -G)"; exec sleep 1000', { user: user.name }));
      await supervisor.startAll();
      await until(() => records.some((r) => String(r.msg).startsWith('ids ')));
      const line = String(records.find((r) => String(r.msg).startsWith('ids '))?.msg);
      const [, uid, gid, ...groups] = line.split(' ');
      expect(Number(uid)).toBe(user.uid);
      expect(Number(gid)).toBe(user.gid);
      expect(groups.map(Number)).toContain(user.extraGid);
    } finally {
      await supervisor.stopAll();
      user.remove();
    }
  });

  it('a missing command run as a user still fails at start with ENOENT', async () => {
    const proc = supervisor.add({ name: 'ghost', command: '/nonexistent/daemon', user: 'nobody', restart: 'never' });
    await supervisor.startAll();
    expect(proc.state).toBe('exited');
    expect(proc.reason).toMatch(/could not start: spawn \/nonexistent\/daemon ENOENT/);
  });

  it('takes readiness from a real daemon over sd_notify (named sends READY=1 and STATUS=)', async () => {
    const conf = namedConf(dir.path);
    const proc = supervisor.add({
      name: 'named',
      command: 'named',
      args: ['-g', '-c', conf],
      readiness: { notify: true },
      startTimeoutMs: 20_000,
    });
    expect(await supervisor.startAll()).toBe(true);
    expect(proc.state).toBe('running');
    expect(records.some((r) => r.msg === 'ready (sd_notify READY=1)')).toBe(true);
    await until(() => proc.status().daemonStatus === 'running');
  });

  it('keeps checking a notify daemon after READY=1 with its health check', async () => {
    const conf = namedConf(dir.path);
    const healthy = join(dir.path, 'healthy');
    writeFileSync(healthy, '');
    const proc = supervisor.add({
      name: 'named',
      command: 'named',
      args: ['-g', '-c', conf],
      readiness: { notify: true },
      health: { file: healthy },
      healthIntervalMs: 100,
      healthFailures: 2,
      startTimeoutMs: 20_000,
    });
    expect(await supervisor.startAll()).toBe(true);
    expect(proc.status().healthy).toBe(true);
    rmSync(healthy);
    await until(() => proc.status().healthy === false);
    expect(proc.state).toBe('running');
    expect(proc.reason).toContain(healthy);
    writeFileSync(healthy, '');
    await until(() => proc.status().healthy === true);
  });

  it('a notify daemon that never says READY=1 is not ready and is killed at its start timeout', async () => {
    const proc = supervisor.add(
      sh('mute', 'exec sleep 1000', { readiness: { notify: true }, startTimeoutMs: 400, restart: 'never' }),
    );
    expect(await supervisor.startAll()).toBe(false);
    expect(proc.reason).toMatch(/not ready within 400 ms \(no sd_notify READY=1\)/);
  });

  it('ignores READY=1 from a process outside the daemon’s process group', async () => {
    const proc = supervisor.add(
      sh('waiting', `echo "$NOTIFY_SOCKET" > ${dir.path}/sock; exec sleep 1000`, {
        readiness: { notify: true },
        startTimeoutMs: 3_000,
        restart: 'never',
      }),
    );
    const started = supervisor.startAll();
    await until(() => existsSync(`${dir.path}/sock`) && readFileSync(`${dir.path}/sock`, 'utf8').trim() !== '');
    const address = readFileSync(`${dir.path}/sock`, 'utf8').trim();
    // python3 here is not in the daemon's group: its READY=1 must not count.
    execFileSync('python3', [
      '-c',
      `import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("${address}"); s.send(b"READY=1")`,
    ]);
    expect(await started).toBe(false);
    expect(records.some((r) => r.msg === 'sd_notify message from outside the process group ignored')).toBe(true);
    expect(proc.state).not.toBe('running');
  });
});
