import { constants } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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

/** Makes the directory entry changes below `dir` (renames, new files) survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let linkCounter = 0;

/**
 * Points `path` at `target` with one rename of a temporary symlink: a reader sees the
 * old link or the new one, never none. This is the only atomic switch POSIX offers for
 * "a set of files": the set lives in a directory and the link names the directory.
 */
export async function replaceSymlink(target: string, path: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${++linkCounter}.tmp`);
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** A file's text, or undefined when it does not exist (any other error is thrown). */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
