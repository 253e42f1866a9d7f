import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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
  /**
   * Writes what the daemon reads besides the rendered files, compiled from them in `dir`
   * (`postmap`, `postalias`). Those files are not compared: a set is unchanged when its
   * rendered files are.
   */
  compile?(dir: string): Promise<void>;
  /** The daemon's own checker on a complete set (`apache2 -t -f DIR/httpd.conf`, `named-checkconf -z`). */
  check(dir: string): Promise<CheckResult>;
  /** Makes the running daemon read `current` again (graceful reload). Not called before the first start. */
  reload?(): Promise<boolean>;
  /** After a reload: does the daemon still serve (its health check)? */
  confirm?(): Promise<boolean>;
}

export type CommitStage = 'render' | 'check' | 'reload' | 'confirm';

export type CommitOutcome =
  | { ok: true; generation: string; changed: boolean }
  | { ok: false; stage: CommitStage; message: string };

/** A set rendered and checked but not yet in place; or unchanged; or refused. */
export type Staged =
  | { kind: 'staged'; generation: string; dir: string; previous: string | null }
  | { kind: 'unchanged'; generation: string }
  | { kind: 'failed'; stage: CommitStage; message: string };

/** Lists the rendered files of a generation: the ones an unchanged-check compares. */
const MANIFEST = '.rendered';

/**
 * A daemon's configuration as one atomic unit: a transaction in the manner of Caddy's
 * reload (start the new, keep the old until the new is proven). Each commit renders the
 * whole set into a new generation directory, runs the daemon's checker on it, switches the
 * `current` symlink in one rename keeping the previous generation, reloads, and confirms with
 * the health check; a failure at any step restores the previous set (and reloads it again),
 * so a bad change never takes the daemon down. The daemon is pointed at `<root>/current/…`.
 * Several daemons' sets commit together through a ConfigTransaction.
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

  /** The set's name in messages: its directory's ("postfix", "dovecot"). */
  get name(): string {
    return basename(this.root);
  }

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
    const run = async (): Promise<CommitOutcome> => {
      const outcome = await commitSets([this], why, options.firstStart ?? false, this.log);
      return outcome.ok
        ? { ok: true, generation: outcome.generations[0] as string, changed: outcome.changed }
        : outcome;
    };
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
      await this.hooks.compile?.(scratch);
      const verdict = await this.hooks.check(scratch);
      for (const file of files) await plan.writeFile(join(scratch, file.path), file.content, { mode: file.mode });
      return verdict;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** Renders and compiles a new generation and has the checker judge it; nothing live changes. */
  async stage(why: string): Promise<Staged> {
    const previous = this.currentGeneration();
    const generation = `gen-${Date.now()}-${process.pid}-${++this.sequence}`;
    const dir = join(this.root, generation);
    this.log.debug({ why, generation, previous }, `config ${this.name}: rendering ${generation} (${why})`);

    let files: ConfigFile[];
    try {
      await mkdirp(dir, 0o755);
      files = this.hooks.render(dir);
      await this.writeAll(dir, files, this.logConfigs);
      await writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(files.map((f) => f.path))}\n`);
    } catch (err) {
      this.discard(dir);
      return this.failed('render', `rendering the ${this.name} configuration failed: ${errorMessage(err)}`);
    }
    if (previous && this.sameAs(previous, dir, files)) {
      this.discard(dir);
      this.log.debug({ generation: previous }, `config ${this.name}: unchanged; nothing to reload`);
      return { kind: 'unchanged', generation: previous };
    }
    try {
      await this.hooks.compile?.(dir);
    } catch (err) {
      this.discard(dir);
      return this.failed('render', `compiling the ${this.name} configuration failed: ${errorMessage(err)}`);
    }
    const verdict = await this.hooks
      .check(dir)
      .catch((err: unknown) => ({ ok: false as const, message: errorMessage(err) }));
    if (!verdict.ok) {
      this.discard(dir);
      return this.failed(
        'check',
        previous
          ? `the new configuration was refused by its checker, the previous one stays: ${verdict.message}`
          : `the configuration was refused by its checker, so nothing was started: ${verdict.message}`,
      );
    }
    this.log.debug({ generation }, `config ${this.name}: checker accepted the new set`);
    return { kind: 'staged', generation, dir, previous };
  }

  /** Points `current` at a staged generation: one rename. */
  async activate(staged: Extract<Staged, { kind: 'staged' }>): Promise<void> {
    await this.point(staged.generation);
  }

  /** Has the daemon read `current` again and confirms it still serves: the stage that failed, or null. */
  async reloadAndConfirm(): Promise<'reload' | 'confirm' | null> {
    if (!this.hooks.reload) return null;
    const reloaded = await this.hooks.reload().catch(() => false);
    if (!reloaded) return 'reload';
    const confirmed = await (this.hooks.confirm?.() ?? Promise.resolve(true)).catch(() => false);
    return confirmed ? null : 'confirm';
  }

  /** Puts the previous generation back (reloading it when the daemon had read the new one) and drops the staged one. */
  async rollback(staged: Extract<Staged, { kind: 'staged' }>, reload: boolean): Promise<void> {
    if (staged.previous) {
      this.log.warn(
        { generation: staged.generation, previous: staged.previous },
        `config ${this.name}: restoring ${staged.previous}${reload ? ' and reloading it' : ''}`,
      );
      await this.point(staged.previous).catch((err: unknown) =>
        this.log.error({ err: errorMessage(err) }, `config ${this.name}: restoring failed`),
      );
      if (reload && this.hooks.reload) {
        const restored = await this.hooks.reload().catch(() => false);
        if (!restored)
          this.log.error(
            { previous: staged.previous },
            `config ${this.name}: reloading the restored configuration failed too`,
          );
      }
    } else {
      // Nothing to fall back to: no `current` rather than one that names a deleted set.
      await unlink(this.current).catch(() => undefined);
    }
    this.discard(staged.dir);
  }

  /** Drops a staged generation that never went live. */
  abandon(staged: Staged): void {
    if (staged.kind === 'staged') this.discard(staged.dir);
  }

  succeeded(staged: Staged, why: string): void {
    this.lastError = null;
    if (staged.kind !== 'staged') return;
    this.prune(staged.generation, staged.previous);
    this.log.info(
      { generation: staged.generation, previous: staged.previous, why },
      `configuration ${this.name}/${staged.generation} in place (${why})`,
    );
  }

  /** Records a failure for readiness and logs it. */
  failed(stage: CommitStage, message: string): Extract<Staged, { kind: 'failed' }> {
    this.lastError = message;
    this.log.error({ stage, set: this.name }, message);
    return { kind: 'failed', stage, message };
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

  /**
   * The rendered files of `previous` are the new ones (their own directory's path set aside).
   * Its manifest names them; what a compiler wrote beside them is not compared.
   */
  private sameAs(previous: string, dir: string, files: ConfigFile[]): boolean {
    const oldDir = join(this.root, previous);
    try {
      const listed = JSON.parse(readFileSync(join(oldDir, MANIFEST), 'utf8')) as string[];
      const paths = files.map((f) => f.path);
      if (listed.length !== paths.length || !paths.every((p) => listed.includes(p))) return false;
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

export type TransactionOutcome =
  | { ok: true; changed: boolean; generations: string[] }
  | { ok: false; stage: CommitStage; message: string };

/**
 * Several daemons' sets committed as one (postfix and dovecot): every set is rendered and
 * checked (side by side) before any goes live; then all switch, and the changed ones reload
 * side by side, each confirmed. A refusal or a failed reload anywhere puts every set back,
 * reloading every changed daemon with the old one, so the daemons never disagree for longer
 * than the reloads take. Sets committed here are committed only here: the transaction runs one commit
 * at a time across all of them.
 */
export class ConfigTransaction {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly sets: readonly ConfigSet[],
    private readonly log: Logger,
  ) {}

  /** The first set's failure that has not been fixed by a later commit: readiness shows it. */
  get lastError(): string | null {
    return this.sets.map((s) => s.lastError).find((e) => e !== null) ?? null;
  }

  commit(why: string, options: { firstStart?: boolean } = {}): Promise<TransactionOutcome> {
    const run = () => commitSets(this.sets, why, options.firstStart ?? false, this.log);
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

async function commitSets(
  sets: readonly ConfigSet[],
  why: string,
  firstStart: boolean,
  log: Logger,
): Promise<TransactionOutcome> {
  const staged: Array<{ set: ConfigSet; s: Exclude<Staged, { kind: 'failed' }> }> = [];
  const abandonAll = () => {
    for (const { set, s } of staged) set.abandon(s);
  };
  // Side by side: each set renders into its own directory and runs its own checker, and a
  // renewal waits for the slowest checker instead of their sum.
  const outcomes = await Promise.all(sets.map(async (set) => ({ set, s: await set.stage(why) })));
  for (const { set, s } of outcomes) if (s.kind !== 'failed') staged.push({ set, s });
  const refused = outcomes.find(({ s }) => s.kind === 'failed')?.s;
  if (refused?.kind === 'failed') {
    abandonAll();
    return { ok: false, stage: refused.stage, message: refused.message };
  }
  const generations = staged.map(({ s }) => s.generation);
  const changed = staged.filter(
    (x): x is { set: ConfigSet; s: Extract<Staged, { kind: 'staged' }> } => x.s.kind === 'staged',
  );
  if (changed.length === 0) {
    for (const { set, s } of staged) set.succeeded(s, why);
    return { ok: true, changed: false, generations };
  }

  const activated: typeof changed = [];
  for (const x of changed) {
    try {
      await x.set.activate(x.s);
      activated.push(x);
    } catch (err) {
      for (const y of activated) await y.set.rollback(y.s, false);
      abandonAll();
      const failure = x.set.failed(
        'render',
        `switching to the new ${x.set.name} configuration failed: ${errorMessage(err)}`,
      );
      return { ok: false, stage: failure.stage, message: failure.message };
    }
  }
  if (!firstStart) {
    // The daemons are independent: they reload side by side (a renewal is served by all of
    // them once the slowest has confirmed, not after the sum). Every one read the new set, so
    // a failure anywhere reloads every one with the old.
    const stages = await Promise.all(changed.map((x) => x.set.reloadAndConfirm()));
    const failedAt = stages.findIndex((stage) => stage !== null);
    if (failedAt >= 0) {
      const x = changed[failedAt] as (typeof changed)[number];
      const stage = stages[failedAt] as Exclude<(typeof stages)[number], null>;
      log.warn({ set: x.set.name, stage }, `config: ${x.set.name} ${stage} failed; restoring every set of this commit`);
      for (const y of changed) await y.set.rollback(y.s, true);
      const failure = x.set.failed(
        stage,
        stage === 'reload'
          ? `${x.set.name} did not take the new configuration (reload failed); the previous one was restored`
          : `${x.set.name} stopped answering after the reload; the previous configuration was restored`,
      );
      return { ok: false, stage: failure.stage, message: failure.message };
    }
  }
  for (const { set, s } of staged) set.succeeded(s, why);
  return { ok: true, changed: true, generations };
}
