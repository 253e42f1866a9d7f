/** The errno code of a failed fs call, for log lines and decisions. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * What an errno means for the operator, as a clause to append: ": it is on a read-only
 * filesystem". One table for every service, so the same failure reads the same everywhere.
 */
const HINTS: Readonly<Record<string, string>> = {
  EROFS: 'it is on a read-only filesystem',
  EACCES: 'permission denied',
  // Root gets EPERM where permissions cannot: an immutable or append-only file (chattr +i/+a).
  EPERM: 'operation not permitted (an immutable or append-only file? check lsattr)',
  ENOTDIR: 'a component of the path is not a directory',
  ENOSPC: 'no space left on the volume',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'a directory is where a file was expected',
};

export function errnoHint(code: string | undefined): string {
  const hint = code === undefined ? undefined : HINTS[code];
  return hint === undefined ? '' : `: ${hint}`;
}
