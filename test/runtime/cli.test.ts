import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distMain, runToEnd, tempDir } from '../support/processes.js';

const cli = (...args: string[]) => runToEnd(['node', distMain, ...args], { PODSERVE_RUN_DIR: '/nonexistent/run' });

describe('node dist/main.js', () => {
  it('--help lists the services and the exec and health commands', async () => {
    const result = await cli('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Services:$/m);
    expect(result.stdout).toMatch(/^ {2}exec {2,}supervise any command as init/m);
    expect(result.stdout).toMatch(/^ {2}health {2,}probe a running service/m);
  });

  it('--version prints the version', async () => {
    const result = await cli('--version');
    expect(result.stdout).toMatch(/^podserve \d+\.\d+\.\d+\n$/);
  });

  it('names what exists when the service is unknown', async () => {
    const result = await cli('webserver');
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/unknown service "webserver"; known: .*exec, health/);
  });

  it.each([
    [['--frobnicate'], /unknown option "--frobnicate"/],
    [['exec', 'sleep', '1'], /put the command after "--"/],
    [['exec', '--'], /exec needs a command after "--"/],
    [
      ['exec', '--restart=sometimes', '--', 'true'],
      /--restart must be one of never, on-failure, always; found "sometimes"/,
    ],
    [['exec', '--bogus', '--', 'true'], /Unknown option '--bogus'; options are --restart, --output, --name/],
    [['health', 'deep', 'x'], /unknown probe "deep"; expected liveness or readiness/],
  ])('refuses %j with a clear usage error (exit 64)', async (args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(message);
  });

  it('health fails fast with a reason when nothing is running', async () => {
    const started = Date.now();
    const result = await cli('health', 'readiness');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('no PodServe service has published a status in /nonexistent/run (not started yet?)\n');
  });

  it('refuses to run without its native addon, naming it and where it looked, before starting anything', async () => {
    const dir = tempDir('podserve-noaddon-');
    try {
      const main = join(dir.path, 'main.js');
      copyFileSync(distMain, main); // no reaper.node beside it
      const result = await runToEnd(['node', main, 'exec', '--', 'true'], {
        LOG_DIR: join(dir.path, 'logs'),
        PODSERVE_RUN_DIR: join(dir.path, 'run'),
      });
      expect(result.code).toBe(70);
      expect(result.stdout).toMatch(/native addon \(reaper\.node\) could not be loaded/);
      expect(result.stdout).toContain(join(dir.path, 'reaper.node'));
    } finally {
      dir.cleanup();
    }
  });
});
