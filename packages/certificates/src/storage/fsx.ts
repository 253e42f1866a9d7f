import { constants } from 'node:fs';
import { chmod, chown, mkdir, open } from 'node:fs/promises';

export interface Ownership {
  uid: number;
  gid: number;
}

/** Thrown when chown is refused because we are not root: callers warn once and go on. */
export function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'EACCES';
}

import { errCode } from '@podserve/runtime';

export { errCode };

/**
 * Writes a new file (it must not exist), sets mode and owner before the content can be
 * read by anyone else, and fsyncs it. Used inside a private directory that is renamed
 * into place afterwards, so no temp-file dance per file is needed.
 */
export async function writeNewFile(
  path: string,
  content: string,
  mode: number,
  owner: Ownership | undefined,
): Promise<{ chownDenied: boolean }> {
  const handle = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  let chownDenied = false;
  try {
    if (owner) {
      try {
        await handle.chown(owner.uid, owner.gid);
      } catch (err) {
        if (!isPermissionError(err)) throw err;
        chownDenied = true;
      }
    }
    await handle.chmod(mode);
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { chownDenied };
}

export async function ensureDir(path: string, mode: number, owner?: Ownership): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await chmod(path, mode);
  if (!owner) return;
  try {
    await chown(path, owner.uid, owner.gid);
  } catch (err) {
    if (!isPermissionError(err)) throw err;
  }
}

export { fsyncDirectory as fsyncDir, readOptional, replaceSymlink } from '@podserve/runtime';
