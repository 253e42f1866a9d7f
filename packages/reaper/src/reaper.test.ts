import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/processes.js';
import { createTempUser, type TempUser } from '../../../test/support/users.js';
import { loadReaper, type NotifyListener, type ReaperAddon, requireReaper, setuidHelperPath } from './index.js';

const execFileP = promisify(execFile);
const ADDON = fileURLToPath(new URL('../build/Release/reaper.node', import.meta.url));
const SETUID = fileURLToPath(new URL('../build/Release/podserve-setuid', import.meta.url));

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

// ---- sd_notify receiver (src/notify.c) ----

interface Received {
  message: string;
  pid: number | null;
}

/** Listeners a test opened; closed after each test. */
const opened: NotifyListener[] = [];

/** A listener that records what it receives; closed (and its file removed) after each test. */
function notifySocket(addon: ReaperAddon, path: string): { listener: NotifyListener; received: Received[] } {
  const received: Received[] = [];
  const listener = addon.listenNotify(path, (message, pid) => received.push({ message, pid }));
  opened.push(listener);
  return { listener, received };
}

async function until<T>(what: string | (() => string), probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    const v = probe();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
}

/** Runs a process to its end; resolves with its pid, exit code and output (never rejects on exit codes). */
function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ pid: number; code: number | null; stdout: string; stderr: string }> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run() needs a command');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ pid: child.pid ?? -1, code, stdout, stderr }));
  });
}

/** python3 sends each datagram of `messages` to `address` (`@name`: abstract), then runs `then`. */
const pySend = (address: string, messages: string[], then = '') =>
  run([
    'python3',
    '-c',
    `import socket, sys, os, array, select
addr = sys.argv[1].replace('@', '\\0', 1) if sys.argv[1].startswith('@') else sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for m in sys.argv[2:]:
    s.sendto(m.encode(), addr)
${then}`,
    address,
    ...messages,
  ]);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

describe.runIf(onLinux)('listenNotify (sd_notify receiver)', () => {
  const dirs: Array<{ cleanup: () => void }> = [];
  const privateDir = () => {
    const d = tempDir('podserve-notify-');
    dirs.push(d);
    return d.path;
  };
  afterEach(() => {
    for (const l of opened.splice(0)) l.close();
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it("receives a real daemon's READY=1 (named) with its pid from SCM_CREDENTIALS", async () => {
    const addon = requireReaper();
    const dir = privateDir();
    const socket = join(dir, 'notify');
    const { received } = notifySocket(addon, socket);
    const port = await freePort();
    writeFileSync(
      join(dir, 'named.conf'),
      `options { directory "${dir}"; pid-file none; session-keyfile none; listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; }; recursion no; dnssec-validation no; };
controls { };
`,
    );
    const named = spawn('/usr/sbin/named', ['-g', '-c', join(dir, 'named.conf')], {
      env: { ...process.env, NOTIFY_SOCKET: socket },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    named.stderr.setEncoding('utf8').on('data', (d: string) => {
      log += d;
    });
    const exited = new Promise<number | null>((r) => named.once('exit', (code) => r(code)));
    try {
      const ready = await until(
        () => `READY=1 from named\n${log}`,
        () => received.find((r) => r.message.includes('READY=1')),
      );
      // named 9.18 (libsystemd's sd_notifyf): "READY=1\nSTATUS=running\nMAINPID=<pid>\n"
      expect(ready.message).toBe(`READY=1\nSTATUS=running\nMAINPID=${named.pid}\n`);
      expect(ready.pid).toBe(named.pid);
      named.kill('SIGTERM');
      expect(await exited).toBe(0);
      // ...and on SIGTERM it says so before exiting.
      const stopping = await until('STOPPING=1', () => received.find((r) => r.message.includes('STOPPING=1')), 3000);
      expect(stopping).toEqual({ message: 'STOPPING=1\n', pid: named.pid });
    } finally {
      if (named.pid !== undefined && named.exitCode === null && named.signalCode === null) named.kill('SIGKILL');
      await exited;
    }
  }, 30_000);

  it('receives datagrams on a socket file and on an @abstract name, with the sender pid', async () => {
    const addon = requireReaper();
    const dir = privateDir();
    const file = notifySocket(addon, join(dir, 'notify'));
    const abstractName = `@podserve-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    const abstract = notifySocket(addon, abstractName);
    expect(existsSync(join(dir, 'notify'))).toBe(true);

    for (const [address, sock] of [
      [join(dir, 'notify'), file],
      [abstractName, abstract],
    ] as const) {
      const sender = await pySend(address, ['STATUS=x\nWATCHDOG=1', 'READY=1']);
      expect(sender.code, sender.stderr).toBe(0);
      await until(`2 datagrams on ${address}`, () => (sock.received.length >= 2 ? true : undefined));
      expect(sock.received).toEqual([
        { message: 'STATUS=x\nWATCHDOG=1', pid: sender.pid },
        { message: 'READY=1', pid: sender.pid },
      ]);
    }
  });

  it('closes passed fds (SCM_RIGHTS) and drops datagrams over 64 KiB', async () => {
    const addon = requireReaper();
    const socket = join(privateDir(), 'notify');
    const { received } = notifySocket(addon, socket);
    // The sender passes the write end of a pipe and closes its own copy: the read end sees EOF
    // only once the copy we received is closed too.
    const sender = await pySend(
      socket,
      [],
      `r, w = os.pipe()
s.sendmsg([b'FDSTORE=1'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w]))], 0, addr)
os.close(w)
print('eof' if select.select([r], [], [], 10)[0] and os.read(r, 1) == b'' else 'still open')
s.sendto(b'x' * 65537, addr)
s.sendto(b'y' * 65536, addr)
s.sendto(b'last', addr)`,
    );
    expect(sender.code, sender.stderr).toBe(0);
    expect(sender.stdout.trim()).toBe('eof');
    await until('the last datagram', () => (received.some((r) => r.message === 'last') ? true : undefined));
    expect(received.map((r) => (r.message.length > 20 ? `${r.message[0]} × ${r.message.length}` : r.message))).toEqual([
      'FDSTORE=1',
      'y × 65536',
      'last',
    ]);
  });

  it('close() removes the socket file, stops delivery at once, and is idempotent', async () => {
    const addon = requireReaper();
    const socket = join(privateDir(), 'notify');
    const abstractName = `@podserve-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    const file = notifySocket(addon, socket);
    const abstract = notifySocket(addon, abstractName);
    // close() from inside onMessage: the rest of the queue is not delivered.
    const inside: string[] = [];
    const insideName = `${abstractName}-inside`;
    const closing = addon.listenNotify(insideName, (m) => {
      inside.push(m);
      closing.close();
    });
    opened.push(closing);
    // Sent while our event loop is blocked, so all three are queued when the poll fires.
    execFileSync('python3', [
      '-c',
      `import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nfor m in (b'one', b'two', b'three'): s.sendto(m, '\\0${insideName.slice(1)}')`,
    ]);
    await until('one datagram', () => (inside.length > 0 ? true : undefined));

    for (const [address, sock] of [
      [socket, file],
      [abstractName, abstract],
    ] as const) {
      expect((await pySend(address, ['before'])).code).toBe(0);
      await until('before', () => (sock.received.length > 0 ? true : undefined));
      sock.listener.close();
      sock.listener.close();
      const after = await pySend(address, ['after']);
      // The file is gone (ENOENT); an abstract name has nobody bound to it (ECONNREFUSED).
      expect(after.stderr).toMatch(address === socket ? /FileNotFoundError/ : /ConnectionRefusedError/);
    }
    expect(existsSync(socket)).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(file.received.map((r) => r.message)).toEqual(['before']);
    expect(abstract.received.map((r) => r.message)).toEqual(['before']);
    expect(inside).toEqual(['one']);
    // The name is free again.
    notifySocket(addon, abstractName);
  });

  it('replaces a stale socket file, refuses any other file, and throws errors like Node system errors', async () => {
    const addon = requireReaper();
    const dir = privateDir();
    // A socket file left by a process that died without closing it.
    const stale = join(dir, 'stale');
    expect(
      (await run(['python3', '-c', `import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind('${stale}')`]))
        .code,
    ).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const { received } = notifySocket(addon, stale);
    expect((await pySend(stale, ['READY=1'])).code).toBe(0);
    await until('READY=1 on the replaced socket', () => (received.length > 0 ? true : undefined));

    const regular = join(dir, 'regular');
    writeFileSync(regular, 'keep me');
    expect(() => addon.listenNotify(regular, () => {})).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE', errno: -98, syscall: 'bind', path: regular }),
    );
    expect(existsSync(regular)).toBe(true);
    const missing = join(dir, 'no-such-dir', 'notify');
    expect(() => addon.listenNotify(missing, () => {})).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'bind', path: missing }),
    );
    expect(() => addon.listenNotify(join(dir, 'x'.repeat(120)), () => {})).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG' }),
    );
    expect(() => addon.listenNotify('@', () => {})).toThrow(TypeError);
    expect(() => addon.listenNotify(1 as unknown as string, () => {})).toThrow(TypeError);
  });

  it('an open listener does not keep the process alive', async () => {
    const dir = privateDir();
    const started = Date.now();
    const { stdout } = await execFileP(
      process.execPath,
      [
        '-e',
        `const a = require(process.env.REAPER_ADDON);
globalThis.l = a.listenNotify(process.env.SOCK, () => {});
console.log(require('node:fs').existsSync(process.env.SOCK));`,
      ],
      { env: { ...process.env, REAPER_ADDON: ADDON, SOCK: join(dir, 'notify') }, timeout: 10_000 },
    );
    expect(stdout.trim()).toBe('true');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

// ---- podserve-setuid (src/setuid.c) ----

// A PATH every user can search (the test runner's may hold directories under /root).
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
const setuid = (...argv: string[]) => run([SETUID, ...argv], CLEAN_ENV);
const idsOf = ['sh', '-c', 'echo "$(id -u) $(id -g) $(id -G) $$"'];

describe.runIf(onLinux)('podserve-setuid', () => {
  it('is built, and setuidHelperPath() finds it beside the sources when not bundled', () => {
    expect(existsSync(SETUID), `${SETUID} missing: run npm run build`).toBe(true);
    expect(setuidHelperPath()).toBe(SETUID);
  });

  it('refuses a bad command line with its usage (exit 126)', async () => {
    for (const argv of [
      [],
      ['65534', '65534', '-', 'id'],
      ['nobody', '65534', '-', '--', 'id'],
      ['-1', '0', '-', '--', 'id'],
    ]) {
      const r = await setuid(...argv);
      expect(r.code, argv.join(' ')).toBe(126);
      expect(r.stderr).toBe('podserve-setuid: usage: podserve-setuid UID GID USERNAME|- -- FILE [ARGS...]\n');
    }
  });

  describe('as root', () => {
    let temp: TempUser;
    const ids = { uid: 0, gid: 0, extraGid: 0 };
    let user = '';
    beforeAll(() => {
      temp = createTempUser();
      user = temp.name;
      Object.assign(ids, { uid: temp.uid, gid: temp.gid, extraGid: temp.extraGid });
    });
    afterAll(() => temp.remove());

    it('gives a user its supplementary groups (initgroups), which uv_spawn alone drops', async () => {
      const { uid, gid, extraGid } = ids;
      const byName = await setuid(String(uid), String(gid), user, '--', ...idsOf);
      expect(byName.stderr).toBe('');
      expect(byName.code).toBe(0);
      // Same pid: the helper execs the command in place, so a supervisor's pid stays right.
      expect(byName.stdout).toBe(`${uid} ${gid} ${gid} ${extraGid} ${byName.pid}\n`);
      // USERNAME "-": looked up from the uid.
      const byUid = await setuid(String(uid), String(gid), '-', '--', ...idsOf);
      expect(byUid.stdout).toBe(`${uid} ${gid} ${gid} ${extraGid} ${byUid.pid}\n`);
      // The control: uv_spawn (node:child_process here, the addon's spawn alike) calls setgroups(0).
      const { stdout } = await execFileP('id', ['-G'], { uid, gid, env: CLEAN_ENV });
      expect(stdout).toBe(`${gid}\n`);
    });

    it('runs nobody with a GID of our choice, and a uid without passwd entry with that gid alone', async () => {
      const nobody = await setuid('65534', '4242', '-', '--', ...idsOf);
      expect(nobody.stderr).toBe('');
      expect(nobody.stdout).toBe(`65534 4242 4242 ${nobody.pid}\n`);
      let unknown = 54321;
      while (spawnOk('getent', ['passwd', String(unknown)])) unknown++;
      const r = await setuid(String(unknown), String(unknown), '-', '--', ...idsOf);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${unknown} ${unknown} ${unknown} ${r.pid}\n`);
    });

    it('leaves the child no way back to root', async () => {
      const perl = await setuid(
        '65534',
        '65534',
        '-',
        '--',
        'perl',
        '-MPOSIX',
        '-e',
        'print POSIX::setuid(0) ? "regained\\n" : "setuid(0): $!\\n"; print "$< $> $(\\n"',
      );
      expect(perl.stdout).toBe('setuid(0): Operation not permitted\n65534 65534 65534 65534\n');
      // Nor through the helper itself.
      const nested = await setuid('65534', '65534', '-', '--', SETUID, '0', '0', 'root', '--', 'id');
      expect(nested.code).toBe(126);
      expect(nested.stderr).toBe('podserve-setuid: initgroups root: Operation not permitted\n');
    });

    it('exits 127 for a missing command and 126 for one it cannot execute, with one line each', async () => {
      const missing = await setuid('65534', '65534', '-', '--', 'podserve-no-such-command');
      expect(missing.code).toBe(127);
      expect(missing.stderr).toBe('podserve-setuid: execvp podserve-no-such-command: No such file or directory\n');
      const notExecutable = await setuid('65534', '65534', '-', '--', '/etc/passwd');
      expect(notExecutable.code).toBe(126);
      expect(notExecutable.stderr).toBe('podserve-setuid: execvp /etc/passwd: Permission denied\n');
    });
  });
});

function spawnOk(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
