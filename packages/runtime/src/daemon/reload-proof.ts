/** What the proof needs of a supervised daemon: its output lines, its exit, and a reload. */
export interface RestartableProcess {
  on(event: 'line', listener: (stream: 'stdout' | 'stderr', text: string) => void): unknown;
  on(event: 'exit', listener: () => void): unknown;
  off(event: 'line', listener: (stream: 'stdout' | 'stderr', text: string) => void): unknown;
  off(event: 'exit', listener: () => void): unknown;
  reload(): Promise<boolean>;
}

/**
 * "Signal, then wait for the daemon's own word": reloads `proc` (its declared reload action)
 * and resolves 'resumed' once a line of its output matches `confirmation` (apache's AH00489
 * "resuming normal operations", postfix master's "reload -- version"), 'refused' when the
 * reload was refused, and 'not confirmed' when the daemon exited instead (a port taken, a
 * module failing though the checker passed) or `timeoutMs` passed. The listeners are in place
 * before the signal, so a fast confirmation is not missed, and they and the timer are gone
 * whatever the outcome: a refused reload must leave nothing behind.
 */
export async function reloadAndConfirm(
  proc: RestartableProcess,
  confirmation: string | RegExp,
  timeoutMs: number,
): Promise<'resumed' | 'refused' | 'not confirmed'> {
  let settle: (ok: boolean) => void = () => undefined;
  const resumed = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const onLine = (_stream: string, text: string) => {
    if (typeof confirmation === 'string' ? text.includes(confirmation) : confirmation.test(text)) settle(true);
  };
  const onExit = () => settle(false);
  const timer = setTimeout(() => settle(false), timeoutMs);
  proc.on('line', onLine);
  proc.on('exit', onExit);
  try {
    if (!(await proc.reload())) return 'refused';
    return (await resumed) ? 'resumed' : 'not confirmed';
  } finally {
    clearTimeout(timer);
    proc.off('line', onLine);
    proc.off('exit', onExit);
  }
}
