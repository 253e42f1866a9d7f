import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadReaper } from './index.js';

const execFileP = promisify(execFile);
const ADDON = fileURLToPath(new URL('../build/Release/reaper.node', import.meta.url));

// Orphans only come to us if we are PID 1 or a child subreaper, and the test runner is neither.
// So every scenario runs in a fresh `node` child that calls setChildSubreaper() and then makes
// orphans with `sh -c '<bg job> & echo $!'`: sh exits at once (libuv reaps it), its background
// job is reparented to our node child, and we find + reap it with waitpidNoHang only.
const PRELUDE = `
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
const addon = createRequire(process.env.REAPER_ADDON)(process.env.REAPER_ADDON);
// Reparented orphans may be attached to any of our threads: scan them all.
const children = () => readdirSync('/proc/self/task').flatMap((t) => {
  try { return readFileSync('/proc/self/task/' + t + '/children', 'utf8').split(' ').filter(Boolean).map(Number); }
  catch { return []; }
});
const stat = (pid) => {
  try {
    const s = readFileSync('/proc/' + pid + '/stat', 'utf8');
    const i = s.lastIndexOf(')');
    return { comm: s.slice(s.indexOf('(') + 1, i), state: s[i + 2] };
  } catch { return null; }
};
const zombies = () => children().filter((p) => stat(p)?.state === 'Z');
const waitZombie = async (pid) => {
  for (const end = Date.now() + 5000; Date.now() < end; await sleep(10)) if (zombies().includes(pid)) return true;
  return false;
};
// The background job must also outlive sh (hence the sleeps): a job that ends while sh is still
// alive may be reaped by sh itself and never become our orphan.
// Runs sh -c script and returns the pid it printed (echo $!). spawnSync waits until stdout closes,
// so the background job must redirect its stdout (>/dev/null) or we would wait for it to finish.
const orphan = (script) => {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  if (r.status !== 0 || !/^\\d+$/.test(r.stdout.trim())) throw new Error('orphan maker failed: ' + JSON.stringify(r));
  return Number(r.stdout.trim());
};
const out = {};
`;

async function runChild(body: string): Promise<Record<string, unknown>> {
  const { stdout } = await execFileP(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `${PRELUDE}\n${body}\nprocess.stdout.write(JSON.stringify(out), () => process.exit(0));`,
    ],
    { env: { ...process.env, REAPER_ADDON: ADDON }, timeout: 15_000 },
  );
  return JSON.parse(stdout) as Record<string, unknown>;
}

const onLinux = process.platform === 'linux';

describe.runIf(onLinux)('reaper addon', () => {
  it('is built and loadable via loadReaper()', () => {
    expect(existsSync(ADDON), `${ADDON} missing: run npm run build:native -w @podserve/reaper`).toBe(true);
    const addon = loadReaper();
    expect(addon).not.toBeNull();
    expect(typeof addon?.waitpidNoHang).toBe('function');
    expect(typeof addon?.setChildSubreaper).toBe('function');
  });

  it('refuses pid <= 0 or non-integers so it can never become waitpid(-1)', () => {
    const addon = loadReaper();
    if (!addon) throw new Error('addon not loadable');
    for (const bad of [-1, 0, 1.5, Number.NaN, 2 ** 40]) {
      expect(() => addon.waitpidNoHang(bad), String(bad)).toThrow(RangeError);
    }
    expect(() => addon.waitpidNoHang('1' as unknown as number)).toThrow(TypeError);
  });

  it('returns null for a pid that is not our child (ECHILD)', () => {
    const addon = loadReaper();
    if (!addon) throw new Error('addon not loadable');
    expect(addon.waitpidNoHang(process.pid)).toBeNull();
    expect(addon.waitpidNoHang(1)).toBeNull();
  });

  it('as subreaper, finds an orphaned zombie via /proc and reaps it exactly once', async () => {
    const r = await runChild(`
      out.subreaper = addon.setChildSubreaper();
      out.echoed = orphan('(sleep 0.1 >/dev/null & echo $!) ; exit 0');
      const end = Date.now() + 5000;
      while (zombies().length === 0 && Date.now() < end) await sleep(10);
      out.found = zombies().map((pid) => ({ pid, comm: stat(pid)?.comm }));
      out.reaped = out.found.map(({ pid }) => addon.waitpidNoHang(pid));
      out.again = out.found.map(({ pid }) => addon.waitpidNoHang(pid));
      out.procGone = out.found.map(({ pid }) => !existsSync('/proc/' + pid));
      out.zombiesLeft = zombies().length;
    `);
    expect(r.subreaper).toBe(true);
    expect(r.echoed).toBeGreaterThan(1);
    expect(r.found).toEqual([{ pid: r.echoed, comm: 'sleep' }]);
    expect(r.reaped).toEqual([{ pid: r.echoed, code: 0, signal: null }]);
    expect(r.again).toEqual([null]);
    expect(r.procGone).toEqual([true]);
    expect(r.zombiesLeft).toBe(0);
  }, 20_000);

  it('decodes exit codes and signals, and returns null while the child still runs', async () => {
    const r = await runChild(`
      out.subreaper = addon.setChildSubreaper();
      const exiter = orphan("sh -c 'sleep 0.1; exit 7' >/dev/null & echo $!");
      out.exitZombie = await waitZombie(exiter);
      out.exited = addon.waitpidNoHang(exiter);

      const sleeper = orphan('sleep 30 >/dev/null & echo $!');
      await sleep(50);
      out.sleeperIsOurs = children().includes(sleeper);
      out.running = addon.waitpidNoHang(sleeper);
      process.kill(sleeper, 'SIGKILL');
      out.killZombie = await waitZombie(sleeper);
      out.killed = addon.waitpidNoHang(sleeper);
      out.killedAgain = addon.waitpidNoHang(sleeper);
    `);
    expect(r.subreaper).toBe(true);
    expect(r.exitZombie).toBe(true);
    expect(r.exited).toEqual({ pid: expect.any(Number), code: 7, signal: null });
    expect(r.sleeperIsOurs).toBe(true);
    expect(r.running).toBeNull();
    expect(r.killZombie).toBe(true);
    expect(r.killed).toEqual({ pid: expect.any(Number), code: null, signal: 9 });
    expect(r.killedAgain).toBeNull();
  }, 20_000);

  it("does not steal libuv's children: spawn() still gets their exit status", async () => {
    const r = await runChild(`
      out.subreaper = addon.setChildSubreaper();
      const o = orphan("sh -c 'sleep 0.3; exit 5' >/dev/null & echo $!"); // still running for now
      const child = spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' });
      const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
      // Busy-wait without yielding, so libuv cannot reap its child before we look: a wildcard
      // waitpid inside waitpidNoHang would steal this zombie's status.
      for (const end = Date.now() + 5000; stat(child.pid)?.state !== 'Z' && Date.now() < end; );
      out.libuvZombieSeen = stat(child.pid)?.state === 'Z';
      out.whileLibuvZombie = addon.waitpidNoHang(o);
      out.libuvStillZombie = stat(child.pid)?.state === 'Z';
      out.libuv = await Promise.race([exited, sleep(3000).then(() => 'no exit event')]);
      out.orphanZombie = await waitZombie(o);
      out.reaped = addon.waitpidNoHang(o);
      out.reapedPid = o;
    `);
    expect(r.subreaper).toBe(true);
    expect(r.libuvZombieSeen).toBe(true);
    expect(r.whileLibuvZombie).toBeNull();
    expect(r.libuvStillZombie).toBe(true);
    expect(r.libuv).toEqual({ code: 3, signal: null });
    expect(r.orphanZombie).toBe(true);
    expect(r.reaped).toEqual({ pid: r.reapedPid, code: 5, signal: null });
  }, 20_000);

  it('without setChildSubreaper the orphan is not ours (control)', async () => {
    const r = await runChild(`
      const pid = orphan('sleep 0.3 >/dev/null & echo $!');
      await sleep(50);
      out.isOurs = children().includes(pid);
      out.wait = addon.waitpidNoHang(pid);
    `);
    expect(r.isOurs).toBe(false);
    expect(r.wait).toBeNull();
  }, 20_000);
});
