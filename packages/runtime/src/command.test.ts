import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
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
});
