import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { distMain, repoRoot, runToEnd, start } from '../support/processes.js';

/** Runs argv as PID 1 of a fresh PID namespace, the way a container runs its init. */
const asPid1 = (...argv: string[]) => ['unshare', '--pid', '--fork', '--mount-proc', ...argv];
const quiet = { LOG_LEVEL: 'warn', LOG_DIR: '/proc/none', PODSERVE_RUN_DIR: '/tmp' };

/** The host pid of the namespace's PID 1: unshare's only child. */
function pid1Of(unsharePid: number): number {
  for (const tid of readdirSync(`/proc/${unsharePid}/task`)) {
    const children = readFileSync(`/proc/${unsharePid}/task/${tid}/children`, 'utf8').trim();
    if (children) return Number(children.split(' ')[0]);
  }
  throw new Error('unshare has no child yet');
}

describe('as PID 1', () => {
  it('leaves no zombie after 1000 orphans exit', async () => {
    const script = [
      'i=0; while [ $i -lt 1000 ]; do ( sleep 0.2 & ); i=$((i+1)); done',
      'sleep 2',
      'z=0; for f in /proc/[0-9]*/stat; do s=$(cut -d" " -f3 "$f" 2>/dev/null); [ "$s" = Z ] && z=$((z+1)); done',
      'echo "zombies=$z"',
    ].join('\n');
    const result = await runToEnd(asPid1('node', distMain, 'exec', '--', 'sh', '-c', script), quiet, 60_000);
    expect(result.stdout).toContain('zombies=0');
    expect(result.code).toBe(0);
  });

  it('loses no exit event of its own children while reaping orphans', async () => {
    const result = await runToEnd(
      asPid1('node', '--import', 'tsx', `${repoRoot}/test/fixtures/exit-events.ts`),
      { ORPHANS: '1000', CHILDREN: '200' },
      90_000,
    );
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(summary).toMatchObject({ pid: 1, children: 200, lost: 0, wrong: 0, zombies: 0 });
    expect(summary.orphansReaped).toBeGreaterThanOrEqual(1000);
    expect(result.code).toBe(0);
  });

  it('honours SIGTERM: exec -- sleep 1000 ends within 1.5 s with the command code', async () => {
    const run = start(asPid1('node', distMain, 'exec', '--', 'sleep', '1000'), quiet);
    await run.waitFor(() => {
      try {
        return readFileSync(`/proc/${pid1Of(run.child.pid ?? 0)}/cmdline`, 'utf8').includes('exec');
      } catch {
        return false;
      }
    });
    const pid1 = pid1Of(run.child.pid ?? 0);
    // Wait until the child is running so the signal reaches a supervised process.
    await run.waitFor(() => readFileSync(`/proc/${pid1}/task/${pid1}/children`, 'utf8').trim() !== '');
    const sent = Date.now();
    process.kill(pid1, 'SIGTERM');
    const { code } = await run.exited;
    expect(Date.now() - sent).toBeLessThan(1_500);
    expect(code).toBe(143); // sleep ended by the forwarded SIGTERM: 128 + 15
  });

  it.each([
    ['exit 7', 7],
    ['exit 0', 0],
    ['kill -9 $$', 137],
  ])('passes on the command exit code (sh -c "%s" → %i)', async (script, expected) => {
    const result = await runToEnd(asPid1('node', distMain, 'exec', '--', 'sh', '-c', script), quiet);
    expect(result.code).toBe(expected);
  });
});

describe('not PID 1', () => {
  it('still reaps orphans of its children as a child subreaper', async () => {
    const script =
      'i=0; while [ $i -lt 50 ]; do ( sleep 0.1 & ); i=$((i+1)); done; sleep 1; ' +
      'z=0; for p in $(cat /proc/$PPID/task/*/children); do s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); [ "$s" = Z ] && z=$((z+1)); done; echo "zombies=$z"';
    const result = await runToEnd(['node', distMain, 'exec', '--', 'sh', '-c', script], {
      ...quiet,
      LOG_LEVEL: 'trace',
    });
    expect(result.stdout).toContain('zombies=0');
    expect(result.stdout).toContain('registered as child subreaper');
    expect(result.records.filter((r) => r.msg === 'reaped orphan').length).toBeGreaterThanOrEqual(50);
    expect(result.code).toBe(0);
  });

  it('exits 127 when the command cannot be started', async () => {
    const result = await runToEnd(['node', distMain, 'exec', '--', '/nonexistent/cmd'], quiet);
    expect(result.code).toBe(127);
    expect(result.stdout).toContain('could not start /nonexistent/cmd');
  });

  it('restarts on failure when asked, then exits 75 once the crash loop gives up', async () => {
    const result = await runToEnd(
      ['node', distMain, 'exec', '--restart=on-failure', '--', 'sh', '-c', 'exit 3'],
      quiet,
    );
    expect(result.code).toBe(75);
    expect(result.stdout).toContain('crash loop');
  });
});
