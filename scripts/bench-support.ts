/** What the image benchmarks (bench-apache, bench-dns) share: podman calls, timing, the table's rows. */
import { execFileSync, spawnSync } from 'node:child_process';

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
