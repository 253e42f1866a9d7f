import { randomBytes } from 'node:crypto';
import { constants, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface FileOwnership {
  /** Numeric uid; omit to keep the writer's. */
  uid?: number;
  /** Numeric gid; omit to keep the writer's. */
  gid?: number;
}

export interface AtomicWriteOptions extends FileOwnership {
  /** Permission bits, applied with chmod so the umask cannot widen or narrow them. Default 0o644. */
  mode?: number;
}

/**
 * Replaces `path` so that a reader sees either the old content or the new, never a mix:
 * temp file in the same directory (same filesystem, so rename is atomic), content,
 * mode and owner set before it becomes visible, fsync, rename, then fsync of the
 * directory so the rename itself survives a crash. On any error the temp file is
 * removed and the old file is untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    try {
      await handle.writeFile(data);
      if (options.uid !== undefined || options.gid !== undefined) {
        await handle.chown(options.uid ?? -1, options.gid ?? -1);
      }
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
