import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { alive, tempDir } from '../../../test/support/processes.js';
import { CommandRunner } from './command.js';
import { CommandError } from './errors.js';

describe('CommandRunner', () => {
  const { logger, records } = memoryLogger();
  const runner = new CommandRunner(logger, true);

  it('returns argv, exit code and output, and logs them', async () => {
    const result = await runner.run(['sh', '-c', 'echo out; echo err >&2']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    expect(records.some((r) => (r.command as { argv?: string[] })?.argv?.[2] === 'echo out; echo err >&2')).toBe(true);
  });

  it('throws an error carrying the command, exit code and stderr', async () => {
    const error = await runner.run(['sh', '-c', 'echo broken >&2; exit 3']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ exitCode: 3, stderr: 'broken\n', argv: ['sh', '-c', 'echo broken >&2; exit 3'] });
    expect((error as Error).message).toBe('sh -c echo broken >&2; exit 3 failed with exit code 3:\nbroken');
  });

  it('enforces its timeout on the whole process group, even with a background child holding the output', async () => {
    const started = Date.now();
    const result = await runner.run(['sh', '-c', 'sleep 30 & wait'], { timeoutMs: 300, reject: false });
    expect(result.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('returns once the command exits, even when a daemon it started keeps the output open', async () => {
    const dir = tempDir('podserve-cmd-');
    const pidFile = join(dir.path, 'daemon.pid');
    try {
      const started = Date.now();
      const script = `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' & echo started`;
      const result = await runner.run(['sh', '-c', script]);
      expect(result).toMatchObject({ exitCode: 0, stdout: 'started\n', timedOut: false });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // never started
      }
      dir.cleanup();
    }
  });

  it('rejects at once when aborted, and ends the command', async () => {
    const dir = tempDir('podserve-cmd-');
    const pidFile = join(dir.path, 'cmd.pid');
    try {
      const abort = new AbortController();
      const started = Date.now();
      const running = runner.run(['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`], { signal: abort.signal });
      setTimeout(() => abort.abort(), 300);
      await expect(running).rejects.toThrow(/ was aborted$/);
      expect(Date.now() - started).toBeLessThan(2_000);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      await expect.poll(() => alive(pid), { timeout: 2_000 }).toBe(false);
    } finally {
      dir.cleanup();
    }
  });

  it('scrubs configured secrets from what a command printed: its result, its error and an abort', async () => {
    const secret = 'c2VjcmV0LXRzaWcta2V5LXZhbHVl';
    const scrubbing = new CommandRunner(logger, false, (text) => text.split(secret).join('[REDACTED]'));
    // nsupdate repeats a key line it cannot use: the same shape, from stdin to stderr.
    const echo = ['sh', '-c', 'read line; echo "could not create key from $line" >&2; exit 1'];
    const result = await scrubbing.run(echo, { input: `${secret}\n`, reject: false });
    expect(result.stderr).toBe('could not create key from [REDACTED]\n');
    const error = (await scrubbing.run(echo, { input: `${secret}\n` }).catch((e: unknown) => e)) as CommandError;
    expect(error.message).toContain('could not create key from [REDACTED]');
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain(secret);

    const abort = new AbortController();
    const pending = scrubbing.run(['sh', '-c', `echo started ${secret}; sleep 30`], { signal: abort.signal });
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    const aborted = (await pending.catch((e: unknown) => e)) as CommandError;
    expect(aborted.message).toBe('sh -c echo started [REDACTED]; sleep 30 was aborted');
    expect(aborted.stdout).toBe('started [REDACTED]\n'); // output so far is kept, scrubbed
  });
});
