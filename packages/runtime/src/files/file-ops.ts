import type { Stats } from 'node:fs';
import { PodServeError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { type AtomicWriteOptions, writeFileAtomic } from './atomic-write.js';
import { chmod, chown, stat } from './fs.js';
import { mkdirp } from './mkdirp.js';

export interface WriteOptions extends AtomicWriteOptions {
  /** Logged with LOG_CONFIGS=true; false for files holding secrets (keys, password maps). */
  loggable?: boolean;
}

export interface DirOptions extends AtomicWriteOptions {}

/**
 * Everything a service's configure() writes goes through this interface, so that
 * `--dry-run` shows exactly what a real run would write: same code path, other sink.
 */
export interface FileOps {
  readonly dryRun: boolean;
  ensureDir(path: string, options?: DirOptions): Promise<void>;
  writeFile(path: string, content: string | Uint8Array, options?: WriteOptions): Promise<void>;
}

export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
  uid?: number;
  gid?: number;
}

export class RealFileOps implements FileOps {
  readonly dryRun = false;
  constructor(
    private readonly logger: Logger,
    private readonly logConfigs: boolean,
  ) {}

  async ensureDir(path: string, options: DirOptions = {}): Promise<void> {
    const mode = options.mode ?? 0o755;
    const before = await stat(path).catch(() => undefined);
    // A file where a directory belongs is the operator's (a key, a mount gone wrong): touching
    // its mode would expose it, so it is refused before anything changes.
    if (before && !before.isDirectory()) {
      throw Object.assign(
        new PodServeError(`${path} exists but is not a directory (${fileKind(before)}); left as it is`),
        {
          code: 'ENOTDIR',
        },
      );
    }
    await mkdirp(path, mode);
    // mkdir leaves an existing dir alone and its mode is subject to umask: set both explicitly.
    if (before && (before.mode & 0o7777) !== mode) {
      this.logger.warn(
        { path, from: octal(before.mode), to: octal(mode) },
        `mode of ${path} was ${octal(before.mode)}; set to ${octal(mode)}, which the service needs`,
      );
    }
    await chmod(path, mode);
    if (options.uid !== undefined || options.gid !== undefined) {
      await chown(path, options.uid ?? -1, options.gid ?? -1);
    }
    this.logger.debug({ path, mode: octal(mode), uid: options.uid, gid: options.gid }, 'directory ready');
  }

  async writeFile(path: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const mode = options.mode ?? 0o644;
    await writeFileAtomic(path, content, { ...options, mode });
    const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
    if (this.logConfigs && options.loggable !== false && typeof content === 'string') {
      this.logger.info({ path, mode: octal(mode), content }, `rendered ${path}`);
    } else {
      this.logger.debug({ path, mode: octal(mode), bytes }, `wrote ${path}`);
    }
  }
}

/** Records instead of writing; directories are listed so the plan shows them too. */
export class DryRunFileOps implements FileOps {
  readonly dryRun = true;
  readonly files: PlannedFile[] = [];
  readonly dirs: Array<{ path: string; mode: number }> = [];

  async ensureDir(path: string, options: DirOptions = {}): Promise<void> {
    this.dirs.push({ path, mode: options.mode ?? 0o755 });
  }

  async writeFile(path: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const text =
      options.loggable === false
        ? '[secret content not shown in dry-run]\n'
        : typeof content === 'string'
          ? content
          : `[${content.byteLength} bytes of binary content]\n`;
    this.files.push({ path, content: text, mode: options.mode ?? 0o644, uid: options.uid, gid: options.gid });
  }
}

function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isSocket()) return 'a socket';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a directory';
}

export function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}
