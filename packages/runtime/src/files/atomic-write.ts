import { basename, dirname, join } from 'node:path';
import { close, constants, fchmod, fchown, fsync, open, rename, unlink, writeAll } from './fs.js';

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

// pid + counter + time is unique among writers on one host, and O_EXCL catches the rest.
// (Not crypto.randomBytes: loading crypto alone costs the supervisor ~1 MB of RSS.)
let tempCounter = 0;

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
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++tempCounter}.${Date.now().toString(36)}.tmp`);
  const fd = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    try {
      await writeAll(fd, data);
      if (options.uid !== undefined || options.gid !== undefined) {
        await fchown(fd, options.uid ?? -1, options.gid ?? -1);
      }
      await fchmod(fd, mode);
      await fsync(fd);
    } finally {
      await close(fd);
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const fd = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}
