import { basename, dirname, join } from 'node:path';
import { readFile, rename, symlink, unlink } from './fs.js';

let linkCounter = 0;

/**
 * Points `path` at `target` with one rename of a temporary symlink: a reader sees the old
 * link or the new one, never none. This is the only atomic switch POSIX offers for "a set of
 * files": the set lives in a directory and the link names the directory (certificate
 * generations, configuration sets).
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
