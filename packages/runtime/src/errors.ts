/** A failure with a message meant for the operator: printed as-is, no stack trace. */
export class PodServeError extends Error {
  override readonly name: string = 'PodServeError';
}

export class UsageError extends PodServeError {
  override readonly name = 'UsageError';
}

/** Carries the command, how it ended and what it printed, like execa's errors. */
export class CommandError extends PodServeError {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly durationMs: number,
  ) {
    super(message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
