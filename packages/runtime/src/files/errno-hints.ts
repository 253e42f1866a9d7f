/** The errno code of a failed fs call, for log lines and decisions. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * What an errno means for the operator, as a clause to append: ": no space left on the
 * CERT_PATH volume". One table for every service, so the same failure reads the same
 * everywhere; `volume` names the place when the caller knows it.
 */
export function errnoHint(code: string | undefined, volume = 'the volume'): string {
  const hints: Readonly<Record<string, string>> = {
    EROFS: `${volume} is on a read-only filesystem`,
    EACCES: 'permission denied',
    // Root gets EPERM where permissions cannot: an immutable or append-only file (chattr +i/+a).
    EPERM: 'operation not permitted (an immutable or append-only file? check lsattr)',
    ENOTDIR: 'a component of the path is not a directory',
    ENOSPC: `no space left on ${volume}`,
    EDQUOT: `disk quota exceeded on ${volume}`,
    EISDIR: 'a directory is where a file was expected',
  };
  const hint = code === undefined ? undefined : hints[code];
  return hint === undefined ? '' : `: ${hint}`;
}
