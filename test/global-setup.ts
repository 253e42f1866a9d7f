import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoRoot } from './support/processes.js';

const run = promisify(execFile);

/**
 * Builds every image once per test run, before any test file starts: the end-to-end files
 * run in parallel and must not race each other's podman builds. npm test has bundled dist/
 * just before, so the build reuses it. PODSERVE_SKIP_IMAGES=1 skips it (unit work only).
 */
export default async function setup(): Promise<void> {
  if (process.env.PODSERVE_SKIP_IMAGES === '1') return;
  const started = Date.now();
  await run(`${repoRoot}/scripts/images.sh`, ['build'], {
    cwd: repoRoot,
    env: { ...process.env, SKIP_BUNDLE: '1' },
    timeout: 900_000,
  });
  console.log(`[global-setup] images built in ${Math.round((Date.now() - started) / 1000)} s`);
}
