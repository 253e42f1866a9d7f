/** What the proof needs of a supervised apache: its output lines, its exit, and a reload. */
export interface RestartableProcess {
  on(event: 'line', listener: (stream: 'stdout' | 'stderr', text: string) => void): unknown;
  on(event: 'exit', listener: () => void): unknown;
  off(event: 'line', listener: (stream: 'stdout' | 'stderr', text: string) => void): unknown;
  off(event: 'exit', listener: () => void): unknown;
  reload(): Promise<boolean>;
}

/** apache's "resuming normal operations" once a graceful restart has its new configuration live. */
const RESUMED = 'AH00489';

/**
 * Reloads `proc` (SIGUSR1) and resolves true once apache says AH00489, false when the reload
 * was refused, apache exited instead (a port taken, a module failing though `apache2 -t`
 * passed) or `timeoutMs` passed. The listeners are in place before the signal, so a fast
 * AH00489 is not missed, and they and the timer are gone whatever the outcome: a refused
 * reload must leave nothing behind (each one used to leave a 10 s timer and two listeners).
 */
export async function reloadAndConfirm(
  proc: RestartableProcess,
  timeoutMs: number,
): Promise<'resumed' | 'refused' | 'not confirmed'> {
  let settle: (ok: boolean) => void = () => undefined;
  const resumed = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const onLine = (_stream: string, text: string) => {
    if (text.includes(RESUMED)) settle(true);
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
