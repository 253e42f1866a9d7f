/**
 * Exit codes of `node dist/main.js`. They follow sysexits.h so an operator who
 * sees one in `podman ps -a` can tell a bad environment from a crashed daemon.
 * In `exec` mode the exit code is the supervised command's own (128+N when
 * signal N ended it), as with tini and dumb-init.
 */
export const ExitCode = {
  ok: 0,
  /** Unexpected internal error: a bug in PodServe, reported with a stack trace. */
  internal: 70,
  /** Bad command line: unknown service, mode or flag. */
  usage: 64,
  /** The environment failed validation; nothing was written. */
  config: 78,
  /** `validate()` or `configure()` failed: configs could not be rendered or written. */
  configure: 73,
  /** `startProcesses()` failed: a process did not start or never became ready. */
  start: 69,
  /** A critical supervised process crash-looped; the orchestrator should restart the container. */
  criticalProcessFailed: 75,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

export const exitCodeTable: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: ExitCode.ok, meaning: 'success (one-shot mode finished, or graceful stop)' },
  { code: ExitCode.usage, meaning: 'bad command line: unknown service, mode or flag' },
  {
    code: ExitCode.config,
    meaning: 'invalid environment (a variable, or a rule across variables); nothing was written',
  },
  { code: ExitCode.start, meaning: 'startProcesses() failed' },
  { code: ExitCode.internal, meaning: 'internal error (a bug: please report it with the log)' },
  { code: ExitCode.configure, meaning: 'validate() or configure() failed' },
  {
    code: ExitCode.criticalProcessFailed,
    meaning: 'a critical supervised process failed (crash loop); exec: its command crash-looped',
  },
  { code: 127, meaning: 'exec: the command could not be started' },
  { code: 128, meaning: '128+N: exec mode, the command was ended by signal N' },
];

/** Conventional shell encoding of a child's end: its code, or 128+signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal !== null) return 128 + signalNumber(signal);
  return ExitCode.internal;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return LINUX_SIGNALS[signal] ?? Number(/^SIG(\d+)$/.exec(signal)?.[1] ?? 15);
}

/** The name for a signal number; real-time signals, which have none in Node, become "SIG<n>". */
export function signalName(signal: number): NodeJS.Signals {
  for (const [name, n] of Object.entries(LINUX_SIGNALS)) if (n === signal) return name as NodeJS.Signals;
  return `SIG${signal}` as NodeJS.Signals;
}

/**
 * Linux's signal numbers (the same on x86-64 and arm64, the architectures PodServe
 * images are built for). A table rather than os.constants.signals because node:os
 * is otherwise unused by an idle supervisor and costs RSS to load.
 */
const LINUX_SIGNALS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};
