import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distMain, runToEnd, tempDir } from '../support/processes.js';

/**
 * The supervisor's RSS target (≤ 1.1 × a bare Node, measured by `npm run bench`) rests on
 * what it does not load. This guards the big items: node:child_process with net and dgram
 * (~2 MB), the streams stack, and pino-pretty, each of which a harmless-looking import
 * would bring back.
 */
describe('what an idle supervisor loads', () => {
  const dir = tempDir('podserve-footprint-');
  afterAll(() => dir.cleanup());

  async function modulesLoadedBy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
    const report = join(dir.path, `modules-${args.join('-').replace(/\W+/g, '_')}.txt`);
    const preload = join(dir.path, 'report-modules.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)}, [...process.moduleLoadList, ...Object.keys(require.cache).map((f) => 'File ' + f)].join('\\n')));\n`,
    );
    const result = await runToEnd(['node', '--require', preload, distMain, ...args], {
      LOG_LEVEL: 'warn',
      LOG_DIR: join(dir.path, 'logs'),
      PODSERVE_RUN_DIR: join(dir.path, 'run'),
      ...env,
    });
    expect(result.code, result.stderr).toBe(0);
    return readFileSync(report, 'utf8').split('\n');
  }

  it('exec supervises a command without node:child_process, net, dgram, streams or pino-pretty', async () => {
    const modules = await modulesLoadedBy(['exec', '--', 'sh', '-c', 'echo supervised; exit 0']);
    for (const heavy of ['child_process', 'net', 'dgram', 'stream', 'internal/streams/readable']) {
      expect(modules).not.toContain(`NativeModule ${heavy}`);
    }
    expect(modules).toContain(`File ${distMain}`);
    expect(modules).not.toContain(`File ${join(distMain, '..', 'pretty.js')}`);
  });

  it('LOG_FORMAT=pretty loads pino-pretty from its own bundle', async () => {
    const modules = await modulesLoadedBy(['exec', '--', 'true'], { LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' });
    expect(modules).toContain(`File ${join(distMain, '..', 'pretty.js')}`);
  });

  it('the control: a bare require of child_process shows up in the same report', async () => {
    // Proves the report above would catch it: child_process brings net and the streams with it.
    const report = join(dir.path, 'control.txt');
    const result = await runToEnd([
      'node',
      '-e',
      `require('child_process'); require('fs').writeFileSync(${JSON.stringify(report)}, process.moduleLoadList.join('\\n'))`,
    ]);
    expect(result.code).toBe(0);
    const modules = readFileSync(report, 'utf8').split('\n');
    expect(modules).toEqual(
      expect.arrayContaining(['NativeModule child_process', 'NativeModule net', 'NativeModule stream']),
    );
  });
});
