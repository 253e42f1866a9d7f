import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../supervisor/line-splitter.js';
import { isLibuvChild } from './own-children.js';
import { type SpawnOptions, spawnChild } from './spawn.js';

/** Spawns with piped output and collects it. */
function run(command: string, args: string[], extra: Partial<SpawnOptions> = {}) {
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], ends: [] as string[] };
  const child = spawnChild({
    command,
    args,
    env: process.env,
    detached: true,
    stdin: 'ignore',
    output: 'pipe',
    onOutput: (stream, chunk) => (chunk ? out[stream].push(chunk) : out.ends.push(stream)),
    ...extra,
  });
  const text = (stream: 'stdout' | 'stderr') => Buffer.concat(out[stream]).toString('utf8');
  return { child, out, text };
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('spawnChild (uv_spawn through the native addon)', () => {
  it('delivers stdout and stderr, then the exit code, and closes once all output is in', async () => {
    const { child, out, text } = run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(child.pid).toBeGreaterThan(0);
    expect(child.exitStatus).toBeNull();
    expect(await child.closed).toEqual({ code: 3, signal: null });
    expect(child.exitStatus).toEqual({ code: 3, signal: null });
    expect(text('stdout')).toBe('out\n');
    expect(text('stderr')).toBe('err\n');
    expect(out.ends.sort()).toEqual(['stderr', 'stdout']);
  });

  it('writes the input to stdin and closes it', async () => {
    const { child, text } = run('cat', [], { stdin: { input: 'line one\nline two\n' } });
    await child.closed;
    expect(text('stdout')).toBe('line one\nline two\n');
  });

  it('reports the signal that ended a child, with a null code', async () => {
    const { child } = run('sleep', ['30']);
    process.kill(child.pid, 'SIGTERM');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('gives piped output real pipes, so a daemon can open /dev/stdout and /dev/stderr by name', async () => {
    const { child, text } = run('sh', [
      '-c',
      'echo to-out > /dev/stdout; echo to-err > /dev/stderr; stat -L -c %F /proc/self/fd/1',
    ]);
    await child.closed;
    expect(text('stdout')).toBe('to-out\nfifo\n');
    expect(text('stderr')).toBe('to-err\n');
  });

  it('delivers a megabyte of output intact', async () => {
    const { child, text } = run('sh', ['-c', 'head -c 1048576 /dev/zero | tr "\\0" x']);
    await child.closed;
    expect(text('stdout')).toBe('x'.repeat(1_048_576));
  });

  it('applies cwd, env, user and group, and puts a detached child in its own process group', async () => {
    const script = 'pwd; echo "$GREETING"; id -u; id -g; cut -d" " -f5 /proc/$$/stat';
    const { child, text } = run('sh', ['-c', script], {
      cwd: '/tmp',
      env: { PATH: process.env.PATH, GREETING: 'hello' },
      user: { uid: 65534, gid: 65534 },
    });
    await child.closed;
    expect(text('stdout').split('\n')).toEqual(['/tmp', 'hello', '65534', '65534', String(child.pid), '']);
  });

  it('throws ENOENT synchronously for a missing command, in child_process wording', () => {
    expect(() => run('/nonexistent/daemon', [])).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'spawn /nonexistent/daemon', path: '/nonexistent/daemon' }),
    );
    expect(() => run('/nonexistent/daemon', [])).toThrow(/^spawn \/nonexistent\/daemon ENOENT/);
    expect(() => run('true', [], { cwd: '/nonexistent/dir' })).toThrow(/ENOENT/);
  });

  it('leaves no file descriptor behind, whether a spawn succeeds or fails', async () => {
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      await run('sh', ['-c', 'echo $$'], { stdin: { input: 'x' } }).child.closed;
      expect(() => run('/nonexistent/daemon', [])).toThrow();
    }
    // Closing a handle completes on the next loop turn.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openFds()).toBe(before);
  });

  it('registers the pid as libuv’s to reap until its exit has been delivered', async () => {
    const { child } = run('sleep', ['30']);
    expect(isLibuvChild(child.pid)).toBe(true);
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    expect(isLibuvChild(child.pid)).toBe(false);
    expect(() => readFileSync(`/proc/${child.pid}/stat`)).toThrow(); // reaped, not a zombie
  });
});

describe('LineSplitter', () => {
  it('splits on newlines across chunks, drops a trailing \\r, and decodes UTF-8 split mid-character', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    const bytes = Buffer.from('héllo\r\nwörld\n\nlast', 'utf8');
    // One byte at a time: every split point, including inside "é" and "ö".
    for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1));
    expect(lines).toEqual(['héllo', 'wörld', '']);
    splitter.end();
    expect(lines).toEqual(['héllo', 'wörld', '', 'last']);
  });
});
