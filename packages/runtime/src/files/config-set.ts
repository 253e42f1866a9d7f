import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { fsyncDirectory, writeFileAtomic } from './atomic-write.js';
import type { FileOps } from './file-ops.js';
import { unlink } from './fs.js';
import { replaceSymlink } from './links.js';
import { mkdirp } from './mkdirp.js';

export interface ConfigFile {
  /** Relative to the set's directory. */
  path: string;
  content: string;
  mode?: number;
  /** false for files holding secrets: never logged with LOG_CONFIGS. */
  loggable?: boolean;
}

/** The daemon checker's verdict: `message` is its `file:line: message`, on one line. */
export type CheckResult = { ok: true } | { ok: false; message: string };

export interface ConfigSetHooks {
  /**
   * Renders every file for a set that will live in `dir` (absolute): files that include
   * each other name `dir`, so what is checked is exactly what is served.
   */
  render(dir: string): ConfigFile[];
  /** The daemon's own checker on a complete set (`apache2 -t -f DIR/httpd.conf`, `named-checkconf -z`). */
  check(dir: string): Promise<CheckResult>;
  /** Makes the running daemon read `current` again (graceful reload). Not called before the first start. */
  reload?(): Promise<boolean>;
  /** After a reload: does the daemon still serve (its health check)? */
  confirm?(): Promise<boolean>;
}

export type CommitOutcome =
  | { ok: true; generation: string; changed: boolean }
  | { ok: false; stage: 'render' | 'check' | 'reload' | 'confirm'; message: string };

/**
 * A daemon's configuration as one atomic unit: a transaction in the manner of Caddy's
 * reload (start the new, keep the old until the new is proven). Each commit renders the
 * whole set into a new generation directory, runs the daemon's checker on it, switches the
 * `current` symlink in one rename keeping the previous generation, reloads, and confirms with
 * the health check; a failure at any step restores the previous set (and reloads it again),
 * so a bad change never takes the daemon down. The daemon is pointed at `<root>/current/…`.
 */
export class ConfigSet {
  private queue: Promise<unknown> = Promise.resolve();
  private sequence = 0;
  /** The last failure, until a commit succeeds: readiness shows it. */
  lastError: string | null = null;

  constructor(
    readonly root: string,
    private readonly hooks: ConfigSetHooks,
    private readonly log: Logger,
    private readonly logConfigs = false,
  ) {}

  get current(): string {
    return join(this.root, 'current');
  }

  /** The generation `current` points at, or null before the first commit. */
  currentGeneration(): string | null {
    try {
      return readlinkSync(this.current);
    } catch {
      return null;
    }
  }

  /**
   * Renders, checks, swaps, reloads and confirms, one commit at a time. `firstStart`: the
   * daemon is not running yet, so there is nothing to reload (its start is the confirmation).
   */
  commit(why: string, options: { firstStart?: boolean } = {}): Promise<CommitOutcome> {
    const run = () => this.commitNow(why, options.firstStart ?? false);
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * What `--dry-run` shows: the set rendered into a private scratch directory (the checker
   * needs the files on disk; removed afterwards), the checker's verdict on it, and every file
   * handed to `plan`, the dry run's file sink. Nothing live is touched.
   */
  async preview(plan: FileOps): Promise<CheckResult> {
    const scratch = mkdtempSync(join(tmpdir(), 'podserve-dry-run-'));
    try {
      const files = this.hooks.render(scratch);
      await this.writeAll(scratch, files, false);
      const verdict = await this.hooks.check(scratch);
      for (const file of files) await plan.writeFile(join(scratch, file.path), file.content, { mode: file.mode });
      return verdict;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  private async commitNow(why: string, firstStart: boolean): Promise<CommitOutcome> {
    const previous = this.currentGeneration();
    const generation = `gen-${Date.now()}-${process.pid}-${++this.sequence}`;
    const dir = join(this.root, generation);
    this.log.debug({ why, generation, previous }, `config: rendering ${generation} (${why})`);

    let files: ConfigFile[];
    try {
      await mkdirp(dir, 0o755);
      files = this.hooks.render(dir);
      await this.writeAll(dir, files, this.logConfigs);
    } catch (err) {
      this.discard(dir);
      return this.fail('render', `rendering the configuration failed: ${errorMessage(err)}`);
    }
    if (previous && this.sameAs(previous, dir, files)) {
      this.discard(dir);
      this.log.debug({ generation: previous }, 'config: unchanged; nothing to reload');
      this.lastError = null;
      return { ok: true, generation: previous, changed: false };
    }

    const verdict = await this.hooks
      .check(dir)
      .catch((err: unknown) => ({ ok: false as const, message: errorMessage(err) }));
    if (!verdict.ok) {
      this.discard(dir);
      return this.fail(
        'check',
        previous
          ? `the new configuration was refused by its checker, the previous one stays: ${verdict.message}`
          : `the configuration was refused by its checker, so nothing was started: ${verdict.message}`,
      );
    }
    this.log.debug({ generation }, 'config: checker accepted the new set');

    try {
      await this.point(generation);
    } catch (err) {
      this.discard(dir);
      return this.fail('render', `switching to the new configuration failed: ${errorMessage(err)}`);
    }
    if (firstStart || !this.hooks.reload) return this.succeed(generation, previous, why);

    const reloaded = await this.hooks.reload().catch(() => false);
    const confirmed = reloaded && (await (this.hooks.confirm?.() ?? Promise.resolve(true)).catch(() => false));
    if (reloaded && confirmed) return this.succeed(generation, previous, why);

    const stage = reloaded ? 'confirm' : 'reload';
    if (previous) {
      this.log.warn({ generation, previous }, `config: ${stage} failed; restoring ${previous} and reloading it`);
      await this.point(previous).catch((err: unknown) =>
        this.log.error({ err: errorMessage(err) }, 'config: restoring failed'),
      );
      const restored = await this.hooks.reload().catch(() => false);
      if (!restored) this.log.error({ previous }, 'config: reloading the restored configuration failed too');
    } else {
      // Nothing to fall back to: no `current` rather than one that names a deleted set.
      await unlink(this.current).catch(() => undefined);
    }
    this.discard(dir);
    return this.fail(
      stage,
      stage === 'reload'
        ? 'the daemon did not take the new configuration (reload failed); the previous one was restored'
        : 'the daemon stopped answering after the reload; the previous configuration was restored',
    );
  }

  private succeed(generation: string, previous: string | null, why: string): CommitOutcome {
    this.lastError = null;
    this.prune(generation, previous);
    this.log.info({ generation, previous, why }, `configuration ${generation} in place (${why})`);
    return { ok: true, generation, changed: true };
  }

  private fail(stage: 'render' | 'check' | 'reload' | 'confirm', message: string): CommitOutcome {
    this.lastError = message;
    this.log.error({ stage }, message);
    return { ok: false, stage, message };
  }

  private async writeAll(dir: string, files: ConfigFile[], logConfigs: boolean): Promise<void> {
    for (const file of files) {
      const path = join(dir, file.path);
      await mkdirp(join(path, '..'), 0o755);
      await writeFileAtomic(path, file.content, { mode: file.mode ?? 0o644 });
      if (logConfigs && file.loggable !== false) this.log.info({ path, content: file.content }, `rendered ${path}`);
      else this.log.debug({ path, bytes: Buffer.byteLength(file.content) }, `rendered ${path}`);
    }
  }

  /** One rename: a daemon reading `current` sees the old set or the new, never a mix. */
  private async point(generation: string): Promise<void> {
    await replaceSymlink(generation, this.current);
    await fsyncDirectory(this.root).catch(() => undefined);
  }

  /** The files on disk in `previous` are the new ones (their own directory's path set aside). */
  private sameAs(previous: string, dir: string, files: ConfigFile[]): boolean {
    const oldDir = join(this.root, previous);
    try {
      const onDisk = readdirSync(oldDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
      if (onDisk !== files.length) return false;
      return files.every((f) => readFileSync(join(oldDir, f.path), 'utf8').replaceAll(oldDir, dir) === f.content);
    } catch {
      return false;
    }
  }

  /** Keeps the current and the previous generation: the one to fall back to. */
  private prune(current: string, previous: string | null): void {
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith('gen-') && entry !== current && entry !== previous) this.discard(join(this.root, entry));
    }
  }

  private discard(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }
}
