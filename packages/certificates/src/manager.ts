import { chmod, chown, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileLock, type Logger } from '@podserve/runtime';
import { parsePair } from '@podserve/runtime/tls';
import { IssuanceError, type Issuer } from './issuer.js';
import { renewBeforeCapped, renewWindowMs, retryDelayMs } from './renewal.js';
import type { SelfSignedIssuer } from './selfsigned.js';
import { requestFingerprint, type Settings } from './settings.js';
import { loadState, type RenewalState, saveState } from './state.js';
import { errCode } from './storage/fsx.js';
import { KEY_FILES, MODES, PUBLISHED_FILES } from './storage/layout.js';
import { Publisher } from './storage/publish.js';
import { moveAside } from './storage/quarantine.js';
import {
  type Expectation,
  type Inspection,
  inspectGeneration,
  inspectPublished,
  type Published,
} from './validate-existing.js';

export type EnsureOutcome =
  | { action: 'kept'; published: Published; suggested?: Date }
  | { action: 'issued'; published: Published; reason: string; ms: number; suggested?: Date }
  /** Not attempted: an earlier failure's backoff (or the CA's Retry-After) is still running. */
  | { action: 'deferred'; published: Published | undefined; fits: boolean; until: Date; lastError: string | undefined }
  /** `published` is the previous pair, still served; `fits` says whether it matches the configuration. */
  | { action: 'failed'; published: Published | undefined; fits: boolean; error: string; retryAt: Date };

export interface EnsureOptions {
  /** Issue even when the published pair is fine (renew mode, SIGUSR1, the trigger file). Ignores backoff. */
  force?: string;
  signal: AbortSignal;
}

/** How long to wait for another instance's issuance before this attempt counts as failed. */
const LOCK_WAIT_MS = 120_000;
/** No single issuance may take longer: a stuck challenge must not block renewals forever. */
export const ISSUE_TIMEOUT_MS = 10 * 60_000;

/**
 * The one place that decides and acts: inspect what is published, move broken material
 * aside, issue when something is missing, unfit, due or forced, publish atomically, and keep
 * the failure backoff. Every step holds the issuance lock, so two instances never race.
 */
export class CertificateManager {
  readonly publisher: Publisher;
  private readonly lock: FileLock;
  private state: RenewalState | undefined;
  /** The last pair seen published (by inspection or by our own publish). */
  published: Published | undefined;

  private readonly redact: (text: string) => string;
  private cappedWarnedFor: string | undefined;
  private readonly selfSigned: SelfSignedIssuer | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly issuer: Issuer,
    private readonly log: Logger,
    options: { redact: (text: string) => string; selfSigned?: SelfSignedIssuer },
  ) {
    this.redact = options.redact;
    this.selfSigned = options.selfSigned;
    this.publisher = new Publisher(settings.layout, settings.owner, settings.keep, log);
    this.lock = new FileLock(settings.layout.lock, log, 'issuing');
  }

  get renewalState(): RenewalState | undefined {
    return this.state;
  }

  async expectation(): Promise<Expectation> {
    return {
      names: this.settings.names,
      issuer: this.settings.issuer,
      keyType: this.settings.keyType,
      directoryUrl: this.settings.acme?.directoryUrl,
      localCa: this.selfSigned ? await this.selfSigned.existingCa() : undefined,
    };
  }

  /** Read-only look at CERT_PATH (for probes and the periodic re-check). */
  async inspect(): Promise<Inspection> {
    const inspection = await inspectPublished(this.settings.layout, await this.expectation());
    this.published = inspection.state === 'present' ? inspection.published : undefined;
    return inspection;
  }

  async ensure(options: EnsureOptions): Promise<EnsureOutcome> {
    await this.lock.acquire(LOCK_WAIT_MS, options.signal);
    try {
      return await this.ensureLocked(options);
    } finally {
      await this.lock.release();
    }
  }

  private async ensureLocked(options: EnsureOptions): Promise<EnsureOutcome> {
    const { layout } = this.settings;
    this.state ??= await loadState(layout, requestFingerprint(this.settings));
    let inspection = await this.inspect();
    if (inspection.state === 'missing' && (await this.relinkLostCurrent())) inspection = await this.inspect();
    this.log.debug(
      {
        state: inspection.state,
        generation: inspection.state === 'present' ? inspection.published.id : undefined,
        unfit: inspection.state === 'present' ? inspection.unfit : undefined,
      },
      'inspected published material',
    );

    let need: string | undefined = options.force;
    let usable: Published | undefined;
    let suggested: Date | undefined;
    let fits = false;
    if (inspection.state === 'corrupt') {
      await moveAside(layout, inspection.paths, inspection.reason, this.log);
      need ??= `the published material was unusable (${inspection.reason})`;
    } else if (inspection.state === 'missing') {
      need ??= 'no certificate is published yet';
    } else {
      const { published, unfit, expired } = inspection;
      const { notAfter } = published.pair;
      if (expired) {
        this.log.warn(
          { generation: published.id, notAfter },
          `published certificate expired on ${notAfter.toISOString()}`,
        );
        need ??= `it expired on ${notAfter.toISOString()}`;
      } else {
        usable = published;
      }
      if (unfit.length > 0) need ??= `it does not fit the configuration: ${unfit.join('; ')}`;
      fits = unfit.length === 0 && !expired;
      const window = renewWindowMs(published.pair, this.settings);
      this.warnIfRenewBeforeCapped(published, window);
      const left = notAfter.getTime() - Date.now();
      if (left <= window) need ??= `it is due for renewal (${Math.round(left / 1000)} s left)`;
      if (need === undefined && usable) {
        suggested = await this.suggestedRenewal(usable);
        if (suggested && suggested.getTime() <= Date.now()) need = 'the CA suggests renewing it now (ARI)';
      }
    }

    if (need === undefined && usable) {
      await this.repair(usable).catch((err: unknown) =>
        this.log.warn({ err: (err as Error).message }, 'could not repair links or permissions of the published files'),
      );
      this.log.debug({ generation: usable.id, notAfter: usable.pair.notAfter }, 'published certificate is valid; kept');
      return { action: 'kept', published: usable, suggested };
    }
    const reason = need ?? 'unknown';

    // Local issuance costs nothing: only an ACME CA is protected by the backoff.
    const until = this.state.nextAttemptAt ? new Date(this.state.nextAttemptAt) : undefined;
    if (!options.force && this.issuer.kind === 'acme' && until && until.getTime() > Date.now()) {
      this.log.debug({ until, reason }, 'issuance needed but an earlier failure is backing off');
      return { action: 'deferred', published: usable, fits, until, lastError: this.state.lastError };
    }

    const started = Date.now();
    this.log.info({ reason, names: this.settings.names, issuer: this.issuer.kind }, `issuing a certificate: ${reason}`);
    try {
      const signal = AbortSignal.any([options.signal, AbortSignal.timeout(ISSUE_TIMEOUT_MS)]);
      const previous =
        inspection.state === 'present' && inspection.unfit.length === 0 ? inspection.published.pair.leaf : undefined;
      const material = await this.issuer.issue({
        names: this.settings.names,
        keyType: this.settings.keyType,
        previous,
        signal,
      });
      // Never publish what we would reject on the next start.
      const pair = parsePair(material.certPem, material.keyPem, material.certPem + material.chainPem);
      const { id, dir } = await this.publisher.publish({
        certPem: material.certPem,
        chainPem: material.chainPem,
        keyPem: material.keyPem,
        caPem: material.caPem,
        meta: {
          version: 1,
          issuer: this.issuer.kind,
          issuerId: material.issuerId,
          names: this.settings.names,
          keyType: material.keyType,
          issuedAt: new Date().toISOString(),
          notBefore: pair.notBefore.toISOString(),
          notAfter: pair.notAfter.toISOString(),
        },
      });
      const published: Published = { id, dir, pair, meta: undefined, hasCa: material.caPem !== undefined };
      this.published = published;
      if (this.state.failures > 0 || this.state.nextAttemptAt) {
        this.state = { fingerprint: this.state.fingerprint, failures: 0 };
        await saveState(layout, this.state, this.settings.owner, this.log, this.redact);
      }
      const ms = Date.now() - started;
      this.log.info(
        { generation: id, names: pair.names, notAfter: pair.notAfter, keyType: pair.keyType, ms },
        `published certificate generation ${id} (valid until ${pair.notAfter.toISOString()})`,
      );
      return { action: 'issued', published, reason, ms, suggested: await this.suggestedRenewal(published) };
    } catch (err) {
      const error = (err as Error).message;
      if (options.signal.aborted) {
        // Stopping is not the CA's fault: no failure counted, no backoff recorded.
        this.log.info({ err: error }, 'issuance interrupted by stop; the published certificate is unchanged');
        return { action: 'failed', published: usable, fits, error, retryAt: new Date() };
      }
      const failures = this.state.failures + 1;
      let retryAt = new Date(Date.now() + retryDelayMs(failures, this.settings.retryMinMs, this.settings.retryMaxMs));
      if (err instanceof IssuanceError && err.retryAt && err.retryAt > retryAt) retryAt = err.retryAt;
      this.state = {
        fingerprint: this.state.fingerprint,
        failures,
        lastError: error,
        lastFailureAt: new Date().toISOString(),
        nextAttemptAt: retryAt.toISOString(),
      };
      await saveState(layout, this.state, this.settings.owner, this.log, this.redact);
      this.log.error(
        { err: error, failures, retryAt, kept: usable?.id ?? null, ms: Date.now() - started },
        `certificate issuance failed (${failures} in a row): ${error}; ${usable ? `generation ${usable.id} stays published` : 'no valid certificate is published'}; next attempt at ${retryAt.toISOString()}`,
      );
      return { action: 'failed', published: usable, fits, error, retryAt };
    }
  }

  /**
   * `current` is gone but generations are not (a careless `rm`, a restore that skipped
   * symlinks): point it back at the newest one that is valid and fits the configuration.
   * Issuing instead would spend an order against the CA's rate limits for nothing.
   */
  private async relinkLostCurrent(): Promise<boolean> {
    const want = await this.expectation();
    for (const id of await this.publisher.generationIds()) {
      const candidate = await inspectGeneration(this.settings.layout, id, want);
      if (candidate.state !== 'present' || candidate.expired || candidate.unfit.length > 0) {
        this.log.debug({ generation: id, state: candidate.state }, 'not a candidate to re-link current to');
        continue;
      }
      await this.publisher.relink(id);
      this.log.warn(
        { generation: id, notAfter: candidate.published.pair.notAfter },
        `${this.settings.layout.current} was missing; re-linked it to generation ${id}, the newest valid one for ${this.settings.names.join(', ')} (nothing issued)`,
      );
      return true;
    }
    return false;
  }

  /** Said once per generation: a silently ignored setting is a setting the operator trusts wrongly. */
  private warnIfRenewBeforeCapped(published: Published, windowMs: number): void {
    if (this.cappedWarnedFor === published.id || !renewBeforeCapped(published.pair, this.settings)) return;
    this.cappedWarnedFor = published.id;
    this.log.warn(
      { generation: published.id, renewBeforeMs: this.settings.renewBeforeMs, usedMs: windowMs },
      `CERT_RENEW_BEFORE is longer than 3/4 of the certificate's lifetime; renewing ${Math.round(windowMs / 1000)} s before expiry instead, so that a fresh certificate is not renewed at once`,
    );
  }

  /** ARI's suggestion for this pair (ACME only); failures only cost the suggestion. */
  async suggestedRenewal(published: Published): Promise<Date | undefined> {
    if (!this.issuer.suggestedRenewal || published.meta?.issuer === 'selfsigned') return undefined;
    try {
      return await this.issuer.suggestedRenewal(published.pair.leaf);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'ARI lookup failed; using the lifetime rule');
      return undefined;
    }
  }

  /**
   * A kept generation is still checked for what breaks consumers silently: top-level links
   * replaced by files, and key permissions (a changed CERT_GROUP must reach existing keys).
   */
  private async repair(published: Published): Promise<void> {
    await this.publisher.ensureLinks(published.hasCa);
    const { uid, gid } = this.settings.owner;
    for (const file of PUBLISHED_FILES) {
      const path = join(published.dir, file);
      const mode = KEY_FILES.has(file) ? MODES.key : MODES.cert;
      try {
        const st = await lstat(path);
        if ((st.mode & 0o7777) !== mode) {
          await chmod(path, mode);
          this.log.info({ path, mode: mode.toString(8) }, `repaired mode of ${file}`);
        }
        if (st.uid !== uid || st.gid !== gid) {
          await chown(path, uid, gid).catch(() => undefined);
        }
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
    }
  }
}
