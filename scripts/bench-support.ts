/** What the image benchmarks (bench-apache, bench-dns) share: podman calls, timing, the table's rows. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** podman's output, trimmed; throws when it fails (its noisy stderr left out). */
export const podman = (...args: string[]) =>
  execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
/** Whether a command exits 0. */
export const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** The rows of one benchmark section, in the README table's format. */
export function tableRows(): {
  rows: string[];
  row(what: string, measured: string, target: string, good: boolean | null): void;
} {
  const rows: string[] = [];
  return {
    rows,
    row: (what, measured, target, good) =>
      rows.push(`| ${what} | ${measured} | ${target} | ${good === null ? '' : good ? '✅' : '❌'} |`),
  };
}

/**
 * PID 1's RSS next to two bare Nodes started in the same container, all idle for 35 s before
 * any load: one that has run nothing, and one whose optimizing compiler (TurboFan) has compiled
 * one hot loop. A runtime that has done any work has TurboFan's code paged in from libnode
 * (~4 MB of clean, shared file pages, measured 2026-12-04), whenever the first function got hot;
 * the warm Node is the fair reference for the target, the idle one is shown beside it.
 */
export async function runtimeRssRow(
  container: string,
  service: string,
  row: (what: string, measured: string, target: string, good: boolean | null) => void,
): Promise<void> {
  const warm =
    'let x = 0; const hot = (n) => { for (let i = 0; i < n; i++) x = (x + i) % 1000003; }; for (let i = 0; i < 200; i++) hot(10000); setInterval(() => {}, 1000)';
  podman('exec', '-d', container, 'node', '-e', 'setInterval(() => {}, 1000) // idle');
  podman('exec', '-d', container, 'node', '-e', `${warm} // warm`);
  await sleep(35_000);
  const memory = (pid: string) => {
    const status = podman('exec', container, 'cat', `/proc/${pid}/status`);
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  };
  const pidOf = (marker: string) => podman('exec', container, 'pgrep', '-f', '-n', marker);
  const runtime = memory('1');
  const idle = memory(pidOf('// idle'));
  const hot = memory(pidOf('// warm'));
  const mb = (m: { rss: number; anon: number; file: number }) =>
    `${m.rss.toFixed(1)} MB (${m.anon.toFixed(1)} anon + ${m.file.toFixed(1)} file)`;
  row(
    `RSS, ${service} service runtime (PID 1) vs bare Node in the same container, idle 35 s`,
    `${mb(runtime)} vs warm ${mb(hot)}: ${(runtime.rss / hot.rss).toFixed(3)}×; idle bare Node ${idle.rss.toFixed(1)} MB (${(runtime.rss / idle.rss).toFixed(3)}×)`,
    '≤ 1.25 × warm bare Node',
    runtime.rss / hot.rss <= 1.25,
  );
}

/** The summed RSS (MB) and number of a process's descendants, by a walk of the host's /proc ppids. */
export function descendants(hostPid: number): { count: number; rssMb: number } {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let kb = 0;
  let count = 0;
  const queue = [...(children.get(hostPid) ?? [])];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      count++;
    } catch {
      // gone meanwhile
    }
    queue.push(...(children.get(pid) ?? []));
  }
  return { count, rssMb: kb / 1024 };
}
