import { lstat, readdir, readlink, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoHint, type Logger } from '@podserve/runtime';
import { ensureDir, errCode, fsyncDir, type Ownership, replaceSymlink, writeNewFile } from './fsx.js';
import {
  CURRENT,
  GENERATIONS,
  KEY_FILES,
  type Layout,
  META,
  MODES,
  PUBLISHED_FILES,
  type PublishedFile,
} from './layout.js';
import type { GenerationMeta } from './meta.js';
import { moveAside } from './quarantine.js';

export interface PublishInput {
  certPem: string;
  /** Intermediates, leaf excluded; empty for a self-signed leaf issued directly by the local CA. */
  chainPem: string;
  keyPem: string;
  /** Self-signed only: the local CA, for clients to trust. */
  caPem?: string;
  meta: Omit<GenerationMeta, 'id'>;
}

/** A publish that failed; the previously current generation is untouched. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

let sequence = 0;

/** Sortable by time (fixed width), unique within a process and across processes (pid). */
export function newGenerationId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${process.pid}-${String(++sequence).padStart(6, '0')}`;
}

const PARTIAL_SUFFIX = '.partial';
/** What newGenerationId() makes: anything else under generations/ is not ours to count or delete. */
const GENERATION_ID_RE = /^\d{8}T\d{9}Z-\d+-\d{6}$/;

export function isGenerationId(name: string): boolean {
  return GENERATION_ID_RE.test(name);
}

/**
 * Atomic publishing. Every issuance becomes a new directory under generations/, written
 * completely (and fsynced) under a temporary name, renamed to its id, and then made current
 * by one rename of the `current` symlink. A reader that resolves `current` once and reads
 * both files from that directory can never see a cert from one generation with the key of
 * another; `combined.pem` (key + full chain in one file) is the same guarantee in one read.
 */
export class Publisher {
  private chownWarned = false;
  private readonly straysReported = new Set<string>();

  constructor(
    private readonly layout: Layout,
    private readonly owner: Ownership | undefined,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  async publish(input: PublishInput): Promise<{ id: string; dir: string }> {
    const id = newGenerationId();
    const dir = this.layout.generation(id);
    const partial = `${dir}${PARTIAL_SUFFIX}`;
    const previous = await this.currentId();
    try {
      await ensureDir(this.layout.generations, MODES.dir, this.owner);
      await ensureDir(partial, MODES.dir, this.owner);
      const fullchain = input.certPem + input.chainPem;
      const files: Array<[PublishedFile | typeof META, string]> = [
        ['cert.pem', input.certPem],
        ['chain.pem', input.chainPem],
        ['fullchain.pem', fullchain],
        // postfix wants key then chain in one file (smtpd_tls_chain_files); one file is also one atomic read.
        ['privkey.pem', input.keyPem],
        ['combined.pem', input.keyPem + fullchain],
        [META, `${JSON.stringify({ ...input.meta, id }, null, 2)}\n`],
      ];
      if (input.caPem) files.push(['ca.pem', input.caPem]);
      for (const [name, content] of files) {
        const mode = KEY_FILES.has(name) ? MODES.key : MODES.cert;
        const { chownDenied } = await writeNewFile(join(partial, name), content, mode, this.owner);
        if (chownDenied) this.warnChown();
      }
      await fsyncDir(partial);
      await rename(partial, dir);
      await fsyncDir(this.layout.generations);
      this.log.debug({ generation: id, files: files.map(([n]) => n) }, `generation ${id} written`);
    } catch (err) {
      await rm(partial, { recursive: true, force: true }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw this.failure(err, `writing generation ${id}`, previous);
    }
    try {
      await replaceSymlink(`${GENERATIONS}/${id}`, this.layout.current);
      await fsyncDir(this.layout.root);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw this.failure(err, `switching ${CURRENT} to generation ${id}`, previous);
    }
    this.log.debug({ generation: id, previous }, `${CURRENT} -> ${GENERATIONS}/${id}`);
    // Links and pruning come after the switch: if they fail, the new pair is already served.
    await this.ensureLinks(input.caPem !== undefined).catch((err: unknown) =>
      this.log.error({ err: String(err) }, 'could not refresh the top-level links (the new generation is current)'),
    );
    await this.prune().catch((err: unknown) => this.log.warn({ err: String(err) }, 'pruning old generations failed'));
    return { id, dir };
  }

  /** The generation `current` points at, or undefined. */
  async currentId(): Promise<string | undefined> {
    try {
      const target = await readlink(this.layout.current);
      const prefix = `${GENERATIONS}/`;
      return target.startsWith(prefix) ? target.slice(prefix.length) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stable names at the top: `cert.pem -> current/cert.pem` and so on. Relative targets, so
   * the volume works wherever a consumer mounts it. Set once; they never change afterwards,
   * only `current` does. A regular file in the way (an old layout) is moved aside, not deleted.
   */
  async ensureLinks(withCa: boolean): Promise<void> {
    const stray: string[] = [];
    for (const file of PUBLISHED_FILES) {
      const path = this.layout.top(file);
      const want = `${CURRENT}/${file}`;
      let existing: string | undefined | null = null;
      try {
        const st = await lstat(path);
        existing = st.isSymbolicLink() ? await readlink(path) : undefined;
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
      if (existing === undefined) stray.push(path);
      if (file === 'ca.pem' && !withCa) {
        // An ACME generation has no ca.pem: a dangling link would only confuse.
        if (typeof existing === 'string') await unlink(path);
        continue;
      }
      if (existing !== want) {
        if (existing === undefined) continue; // handled below, after moving it aside
        await replaceSymlink(want, path);
      }
    }
    if (stray.length > 0) {
      await moveAside(this.layout, stray, 'regular files where the published symlinks belong', this.log);
      await this.ensureLinks(withCa);
    }
  }

  /**
   * Keeps `current` plus the newest `keep` other generations and removes leftovers of
   * interrupted publishes. Only names this publisher makes count: a stray README (or a
   * backup someone parked here) neither takes a keep slot nor gets deleted; it is named in
   * a warning once per run.
   */
  async prune(): Promise<void> {
    const current = await this.currentId();
    let entries: string[];
    try {
      entries = await readdir(this.layout.generations);
    } catch {
      return;
    }
    const ownPartialPrefix = `-${process.pid}-`;
    const partials = entries.filter(
      (e) =>
        e.endsWith(PARTIAL_SUFFIX) &&
        isGenerationId(e.slice(0, -PARTIAL_SUFFIX.length)) &&
        !e.includes(ownPartialPrefix),
    );
    const generations = entries
      .filter((e) => isGenerationId(e) && e !== current)
      .sort()
      .reverse();
    const strays = entries.filter(
      (e) =>
        e !== current &&
        !isGenerationId(e) &&
        !(e.endsWith(PARTIAL_SUFFIX) && isGenerationId(e.slice(0, -PARTIAL_SUFFIX.length))),
    );
    const unreported = strays.filter((e) => !this.straysReported.has(e));
    if (unreported.length > 0) {
      for (const e of unreported) this.straysReported.add(e);
      this.log.warn(
        { dir: this.layout.generations, entries: unreported },
        `left alone in ${this.layout.generations}: ${unreported.join(', ')} (not certificate generations; they are never pruned)`,
      );
    }
    const doomed = [...generations.slice(this.keep), ...partials];
    for (const name of doomed) await rm(this.layout.generation(name), { recursive: true, force: true });
    if (doomed.length > 0)
      this.log.debug({ removed: doomed, kept: generations.slice(0, this.keep) }, 'pruned old generations');
  }

  /** The newest generation ids first (names this publisher makes only). */
  async generationIds(): Promise<string[]> {
    try {
      return (await readdir(this.layout.generations)).filter(isGenerationId).sort().reverse();
    } catch (err) {
      if (errCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /** Points `current` at an existing generation (recovery when the link was lost). */
  async relink(id: string): Promise<void> {
    await replaceSymlink(`${GENERATIONS}/${id}`, this.layout.current);
    await fsyncDir(this.layout.root);
  }

  private warnChown(): void {
    if (this.chownWarned) return;
    this.chownWarned = true;
    this.log.warn(
      { owner: this.owner },
      `cannot chown published files to ${this.owner?.uid}:${this.owner?.gid} (not root?); keys keep this process's group`,
    );
  }

  private failure(err: unknown, what: string, previous: string | undefined): PublishError {
    const code = errCode(err);
    const hint = errnoHint(code, 'the CERT_PATH volume');
    const kept = previous ? `generation ${previous} stays current` : 'nothing was published before';
    return new PublishError(`publishing failed while ${what}${hint} (${(err as Error).message}); ${kept}`, code);
  }
}
