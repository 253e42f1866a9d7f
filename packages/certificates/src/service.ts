import type { X509Certificate } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import {
  BaseService,
  type CommandRunner,
  errCode,
  errnoHint,
  type HandledSignal,
  type HealthResult,
  type Logger,
  PodServeError,
  RequestFailed,
  type ServiceAction,
} from '@podserve/runtime';
import * as v from 'valibot';
import type { CertificatesEnv } from './config.js';
import { assess } from './health.js';
import type { Issuer } from './issuer.js';
import { Maintenance } from './maintenance.js';
import { CertificateManager, type EnsureOutcome } from './manager.js';
import { SelfSignedIssuer } from './selfsigned.js';
import { deriveSettings, type Settings } from './settings.js';
import { MODES } from './storage/layout.js';

export const MODES_HELP = {
  cron: 'make sure a valid certificate is published, then stay running and renew it on schedule (SIGUSR1 or a renew-now file in CERT_PATH renews at once)',
  init: 'make sure a valid certificate is published, then exit 0 (init containers, one-shot runs)',
  renew: 'issue a new certificate now, whatever the published one looks like, then exit',
} as const;

/**
 * The pod's certificate authority of record: the only writer of CERT_PATH. validate()
 * checks across variables; configure() prepares and checks CERT_PATH; startProcesses()
 * does the mode's work (all through the CertificateManager).
 */
export class CertificatesService extends BaseService<CertificatesEnv> {
  private settings: Settings | undefined;
  private manager: CertificateManager | undefined;
  private issuer: Issuer | undefined;
  private maintenance: Maintenance | undefined;

  override async validate(): Promise<boolean> {
    const result = deriveSettings(this.config);
    if (!result.ok) {
      this.log.error(
        { problems: result.problems },
        `invalid certificates configuration; nothing was changed:\n${result.problems.map((p) => `  - ${p.message}`).join('\n')}`,
      );
      return false;
    }
    for (const note of result.notes) this.log.info(note);
    this.settings = result.settings;
    const { names, issuer, keyType, layout, owner } = result.settings;
    this.log.debug({ names, issuer, keyType, certPath: layout.root, owner, mode: this.ctx.mode }, 'settings derived');
    return true;
  }

  override async configure(): Promise<boolean> {
    const settings = this.must();
    const { layout } = settings;
    // Through ctx.files so --dry-run lists the directory it would create.
    try {
      await this.ctx.files.ensureDir(layout.root, { mode: MODES.dir });
    } catch (err) {
      // Our own refusals already say what is wrong; an errno gets its hint.
      const detail =
        err instanceof PodServeError
          ? err.message
          : `${errnoHint(errCode(err), 'it').slice(2) || 'it failed'} (${(err as Error).message})`;
      this.log.error(
        { certPath: layout.root, code: errCode(err) },
        `CERT_PATH ${layout.root} cannot be prepared: ${detail}; nothing was published`,
      );
      return false;
    }
    if (this.ctx.dryRun) {
      const manager = this.createManager(settings);
      const inspection = await manager.inspect();
      this.log.info({ inspection: describe(inspection) }, `dry run: published material is ${describe(inspection)}`);
      return true;
    }
    try {
      await access(layout.root, constants.W_OK);
    } catch (err) {
      this.log.error(
        { certPath: layout.root, code: errCode(err) },
        `CERT_PATH ${layout.root} is not writable${errnoHint(errCode(err), 'it')}; nothing was published (${(err as Error).message})`,
      );
      return false;
    }
    this.manager = this.createManager(settings);
    return true;
  }

  override async startProcesses(): Promise<boolean> {
    const manager = this.manager;
    if (!manager) throw new Error('configure() did not run');
    const mode = this.ctx.mode;
    const force = mode === 'renew' ? 'renewal forced (--mode renew)' : undefined;
    let outcome: EnsureOutcome;
    try {
      outcome = await manager.ensure({ force, signal: this.ctx.signal });
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        `certificates could not be checked or published: ${(err as Error).message}`,
      );
      if (mode !== 'cron') return false;
      outcome = {
        action: 'failed',
        published: undefined,
        fits: false,
        error: (err as Error).message,
        retryAt: new Date(),
      };
    }
    this.log.debug({ action: outcome.action }, `first pass: ${outcome.action}`);

    if (mode === 'cron') {
      // Stay up even without a certificate: a crash loop would hammer the CA; readiness says not ready.
      this.maintenance = new Maintenance(manager, this.must(), this.log, this.ctx.signal, () =>
        this.ctx.healthChanged(),
      );
      this.maintenance.start(outcome);
      return true;
    }
    const ok = mode === 'renew' ? outcome.action === 'issued' : this.initSucceeded(outcome);
    await this.issuer?.close?.();
    if (!ok) return false;
    this.finish(0);
    return true;
  }

  /** init succeeds when a certificate usable right now is published, even if its renewal just failed. */
  private initSucceeded(outcome: EnsureOutcome): boolean {
    const { alarm, health } = assess(outcome.published, this.must());
    if (outcome.action === 'deferred') {
      this.log.error(
        { until: outcome.until, lastError: outcome.lastError },
        `an earlier issuance failed (${outcome.lastError ?? 'unknown'}); not asking the CA again before ${outcome.until.toISOString()} (run --mode renew to force)`,
      );
    }
    if (alarm === 'missing' || alarm === 'expired') return false;
    if ((outcome.action === 'failed' || outcome.action === 'deferred') && !outcome.fits) {
      this.log.error('the published certificate does not match the configuration and no new one could be issued');
      return false;
    }
    if (alarm === 'warning') this.log.error({ ...health.details }, `CERTIFICATE ALARM: ${health.reason}`);
    return true;
  }

  override async liveness(): Promise<HealthResult> {
    if (this.maintenance) return this.maintenance.liveness();
    return { ok: true, reason: `mode ${this.ctx.mode}` };
  }

  override async readiness(): Promise<HealthResult> {
    if (this.maintenance) return this.maintenance.readiness();
    return assess(this.manager?.published, this.settings ?? {}).health;
  }

  override async reload(): Promise<boolean> {
    this.maintenance?.recheck();
    return true;
  }

  override actions(): Record<string, ServiceAction> {
    return {
      renew: {
        summary: 'issue a new certificate now and publish it (cron mode)',
        output: v.object({ generation: v.string(), names: v.array(v.string()), notAfter: v.string() }),
        run: async () => {
          if (!this.maintenance)
            throw new RequestFailed(`renew needs --mode cron (this run is --mode ${this.ctx.mode})`);
          const outcome = await this.maintenance.renewNow('control socket');
          if (!outcome || outcome.action === 'failed') {
            throw new RequestFailed(
              `renewal failed: ${outcome?.error ?? 'see the logs'}; the published certificate is unchanged`,
            );
          }
          if (outcome.action !== 'issued') throw new RequestFailed(`renewal not done (${outcome.action})`);
          const { id, pair } = outcome.published;
          return { generation: id, names: pair.names, notAfter: pair.notAfter.toISOString() };
        },
      },
    };
  }

  override statusDetails(): Record<string, unknown> {
    const published = this.manager?.published;
    if (!published) return { certificate: 'none published' };
    return {
      generation: published.id,
      names: published.pair.names,
      notAfter: published.pair.notAfter.toISOString(),
    };
  }

  override onSignal(signal: HandledSignal): void {
    if (signal === 'SIGUSR1' && this.maintenance) this.maintenance.requestRenewal('SIGUSR1');
    else super.onSignal(signal);
  }

  override async stop(): Promise<void> {
    await this.maintenance?.stop();
    await this.issuer?.close?.();
  }

  private createManager(settings: Settings): CertificateManager {
    if (settings.issuer === 'selfsigned') {
      const selfSigned = new SelfSignedIssuer(settings.layout, settings.owner, settings.selfSignedValidityMs, this.log);
      this.issuer = selfSigned;
      return new CertificateManager(settings, selfSigned, this.log, { redact: this.ctx.redact, selfSigned });
    }
    this.issuer = new LazyAcmeIssuer(settings, this.log, this.ctx.commands);
    return new CertificateManager(settings, this.issuer, this.log, { redact: this.ctx.redact });
  }

  private must(): Settings {
    if (!this.settings) throw new Error('validate() did not run');
    return this.settings;
  }
}

/** Loads acme-client (and axios) only when an ACME issuance actually happens. */
class LazyAcmeIssuer implements Issuer {
  readonly kind = 'acme' as const;
  private inner: Promise<Issuer> | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly commands: CommandRunner,
  ) {}

  private load(): Promise<Issuer> {
    this.inner ??= import('./acme/issuer.js').then((m) => new m.AcmeIssuer(this.settings, this.log, this.commands));
    return this.inner;
  }

  async issue(request: Parameters<Issuer['issue']>[0]) {
    return (await this.load()).issue(request);
  }

  async suggestedRenewal(leaf: X509Certificate): Promise<Date | undefined> {
    return (await this.load()).suggestedRenewal?.(leaf);
  }

  async close(): Promise<void> {
    if (this.inner) await (await this.inner).close?.();
  }
}

function describe(i: Awaited<ReturnType<CertificateManager['inspect']>>): string {
  if (i.state === 'missing') return 'missing: a certificate would be issued';
  if (i.state === 'corrupt') return `corrupt (${i.reason}): it would be moved aside and replaced`;
  if (i.expired) return `expired on ${i.published.pair.notAfter.toISOString()}: it would be replaced`;
  if (i.unfit.length > 0) return `unfit (${i.unfit.join('; ')}): it would be replaced`;
  return `generation ${i.published.id}, valid until ${i.published.pair.notAfter.toISOString()}`;
}
