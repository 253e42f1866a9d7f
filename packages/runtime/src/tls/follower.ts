import { X509Certificate } from 'node:crypto';
import type { HealthResult } from '../health/status.js';
import type { Logger } from '../logging/logger.js';
import { type CertificatePair, type CertificateWatcher, watchCertificates } from './consumer.js';

/**
 * What a daemon service tells the follower: how to put a generation in service (render the
 * config pointing at it, run the config transaction, reload), and how to see what the
 * daemon really serves (a TLS handshake to its own port).
 */
export interface FollowerHooks {
  /** Puts the pair in service; false (or a throw) when the daemon did not take it. */
  apply(pair: CertificatePair): Promise<boolean>;
  /** The SHA-256 fingerprint of the certificate the daemon serves now (undefined: no answer). */
  served?(): Promise<string | undefined>;
  /**
   * Several daemons that serve the pair (postfix and dovecot), each with its own check: a
   * generation is served once every one of them serves it, and status shows each one's.
   */
  targets?: Readonly<Record<string, () => Promise<string | undefined>>>;
  /** Health may have changed (call ctx.healthChanged). */
  changed(): void;
}

export interface FollowerOptions {
  certPath: string;
  /** Names the daemon answers for: a pair must cover every one (a wildcard covers one label). */
  names: readonly string[];
  log: Logger;
  /** First retry delay after a failed apply; doubles up to maxRetryMs. Default 1 s. */
  retryMs?: number;
  maxRetryMs?: number;
  /** How long a served-certificate check may keep seeing the old one after a reload. Default 5 s. */
  confirmMs?: number;
  /**
   * While no usable pair exists, one "waiting for …" info line this often (a new reason is
   * logged at once). The same refusal seen again is warned about at most this often, with a
   * count. Default 10 s.
   */
  waitingReportMs?: number;
  /** The watcher's re-read period, which is also its polling period when inotify fails. Default 30 s. */
  recheckMs?: number;
}

/**
 * The certificate consumer every TLS daemon shares (apache now; postfix, dovecot and the API
 * later). It does not mark a generation as served until the daemon proves it serves it:
 * wait for a valid pair covering the names (readiness-gated start), then on every new
 * generation verify the pair, apply it (config transaction + reload), and confirm by a TLS
 * handshake that the daemon's answer carries the new certificate. A failure keeps the old
 * one in service, turns readiness false with the reason, and is retried with backoff.
 * It loads neither node-forge nor acme-client: consumers' bundles stay small.
 */
export class CertificateFollower {
  private watcher: CertificateWatcher | undefined;
  /** The newest usable pair seen on the volume. */
  private latest: CertificatePair | undefined;
  /** The pair every daemon is confirmed to serve. */
  servedPair: CertificatePair | undefined;
  /** Each target's confirmed pair (one entry, "daemon", for a service with one `served` check). */
  private readonly servedBy = new Map<string, CertificatePair>();
  private problem: string | null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private applying: Promise<void> = Promise.resolve();
  private closed = false;
  /** Set once the daemon runs: from then on new generations are applied, not just noted. */
  private following = false;
  private firstReady: (pair: CertificatePair) => void = () => undefined;
  private readonly first: Promise<CertificatePair>;
  /** The last waiting line logged, and when: a new reason is logged at once, the same one every waitingReportMs. */
  private waitingLogged = { what: '', at: 0 };
  /** The last refusal warned about, when, and how often it was seen again since. */
  private refusalLogged = { what: '', at: 0, repeats: 0 };

  constructor(
    private readonly options: FollowerOptions,
    private readonly hooks: FollowerHooks,
  ) {
    this.first = new Promise((resolve) => {
      this.firstReady = resolve;
    });
    this.problem = this.waitingReason('looking');
  }

  /**
   * Starts watching and resolves with the first usable pair (not yet applied: the caller
   * renders its first config with it and starts the daemon, then calls started()).
   */
  async waitForFirst(signal: AbortSignal): Promise<CertificatePair | undefined> {
    const { certPath, log } = this.options;
    log.debug({ certPath, names: this.options.names }, 'waiting for a certificate');
    this.watcher = watchCertificates(certPath, (pair) => this.offer(pair), {
      emitInitial: true,
      recheckMs: this.options.recheckMs,
      waitingReportMs: this.options.waitingReportMs,
      onError: (err) => this.refuse(`the published pair is unusable: ${err.message}`),
      onWaiting: (reason) => this.waiting(reason),
      onMissing: (err) =>
        this.servedPair
          ? this.refuse(`nothing is published in ${certPath} any more (${err.missing})`)
          : this.waiting(`no published certificate (${err.missing})`),
      onDegraded: (reason) => {
        log.warn({ certPath }, `certificate changes are found late: ${reason}`);
        this.hooks.changed();
      },
    });
    const aborted = new Promise<undefined>((resolve) => {
      if (signal.aborted) resolve(undefined);
      else signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    return await Promise.race([this.first, aborted]);
  }

  /**
   * The daemon already runs without a certificate (apache answering ACME HTTP-01 on port 80
   * while the first one is issued): every pair from now on, the first included, goes through
   * apply() like a renewal. Call after waitForFirst(), whose watcher keeps offering pairs.
   */
  follow(): void {
    this.following = true;
    // One offered between waitForFirst's look and this call was only noted: apply it now.
    if (this.latest) this.schedule(0);
  }

  /** The daemon started with `pair` in its first config: confirm it and follow from here. */
  async started(pair: CertificatePair): Promise<boolean> {
    this.following = true;
    const ok = await this.confirm(pair);
    // A newer generation that came while the daemon started, or a start that did not serve it.
    if (!ok || this.latest?.generation !== pair.generation) this.schedule(ok ? 0 : (this.options.retryMs ?? 1_000));
    return ok;
  }

  health(): HealthResult {
    const served = this.servedPair;
    // Polling still finds every change, later: worth saying, not worth taking the site down.
    const degraded = this.watcher?.degraded ? `; ${this.watcher.degraded}` : '';
    if (this.problem || !served) {
      return { ok: false, reason: `${this.problem ?? 'no certificate served yet'}${degraded}` };
    }
    const lagging = this.lagging();
    if (lagging) return { ok: false, reason: `${lagging}${degraded}` };
    if (served.notAfter.getTime() <= Date.now()) {
      return { ok: false, reason: `the served certificate (generation ${served.generation}) has expired${degraded}` };
    }
    return { ok: true, reason: `serving certificate generation ${served.generation}${degraded}` };
  }

  details(): Record<string, unknown> {
    const targets = this.hooks.targets
      ? {
          servedBy: Object.fromEntries(
            Object.keys(this.hooks.targets).map((t) => [t, this.servedBy.get(t)?.generation ?? null]),
          ),
        }
      : {};
    return {
      servedGeneration: this.servedPair?.generation ?? null,
      ...targets,
      servedNotAfter: this.servedPair?.notAfter.toISOString() ?? null,
      latestGeneration: this.latest?.generation ?? null,
      ...(this.servedPair ? {} : { waiting: this.problem }),
      watching: this.watcher?.degraded ?? 'inotify',
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.watcher?.close();
    await this.applying.catch(() => undefined);
  }

  private offer(pair: CertificatePair): void {
    const uncovered = this.options.names.filter((name) => !covers(pair.names, name));
    if (uncovered.length > 0) {
      this.refuse(`generation ${pair.generation} covers ${pair.names.join(', ')}, not ${uncovered.join(', ')}`);
      return;
    }
    if (pair.notAfter.getTime() <= Date.now()) {
      this.refuse(`generation ${pair.generation} expired on ${pair.notAfter.toISOString()}`);
      return;
    }
    this.latest = pair;
    if (!this.servedPair)
      this.problem = `certificate generation ${pair.generation} found; the daemon is not serving it yet`;
    if (!this.following) {
      this.firstReady(pair);
      return;
    }
    this.schedule(0);
  }

  private waitingReason(what: string): string {
    return `waiting for a certificate for ${this.options.names.join(', ')} in ${this.options.certPath}: ${what}`;
  }

  /** Nothing usable yet, for an expected reason (a volume not filled yet): readiness says why; info. */
  private waiting(what: string): void {
    if (this.servedPair || this.latest) return;
    const reason = this.waitingReason(what);
    const changed = reason !== this.problem;
    this.problem = reason;
    const now = Date.now();
    if (what !== this.waitingLogged.what || now - this.waitingLogged.at >= (this.options.waitingReportMs ?? 10_000)) {
      this.waitingLogged = { what, at: now };
      this.options.log.info({ certPath: this.options.certPath, names: this.options.names }, reason);
    }
    if (changed) this.hooks.changed();
  }

  /**
   * A generation (or the volume's state) that cannot be served: a warning every time, except
   * that the same refusal seen again (every re-read finds a corrupted generation again) is
   * summarised, at most once every waitingReportMs, with how often it was seen. While
   * nothing is served it is also readiness's reason; while something is, it stays served.
   */
  private refuse(what: string): void {
    const { log, certPath, names } = this.options;
    const now = Date.now();
    const last = this.refusalLogged;
    if (what !== last.what) {
      this.refusalLogged = { what, at: now, repeats: 0 };
      log.warn({ certPath, names }, this.refusalLine(what));
    } else if (now - last.at >= (this.options.waitingReportMs ?? 10_000)) {
      log.warn(
        { certPath, names, repeats: last.repeats + 1 },
        `${this.refusalLine(what)} (seen ${last.repeats + 1} more time(s) since ${new Date(last.at).toISOString()})`,
      );
      this.refusalLogged = { what, at: now, repeats: 0 };
    } else {
      last.repeats += 1;
    }
    if (!this.servedPair && !this.latest) {
      const reason = this.waitingReason(what);
      if (reason !== this.problem) {
        this.problem = reason;
        this.hooks.changed();
      }
    }
  }

  private refusalLine(what: string): string {
    const served = this.servedPair;
    return `refused a certificate: ${what}; ${served ? `generation ${served.generation} stays in service` : `still waiting for one for ${this.options.names.join(', ')}`}`;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.applying = this.applying
        .then(() => this.applyLatest())
        .catch((err: unknown) => {
          // Nothing may reject unhandled in PID 1; the next generation or retry tries again.
          this.options.log.error(
            { err: (err as Error).message },
            `applying a certificate failed: ${(err as Error).message}`,
          );
        });
    }, delayMs);
  }

  private async applyLatest(): Promise<void> {
    const pair = this.latest;
    if (!pair || this.closed) return;
    if (pair.generation === this.servedPair?.generation) {
      // Back to what is served (a bad generation was replaced): nothing to apply, nothing wrong.
      if (this.problem !== null || this.failures > 0) {
        this.problem = null;
        this.failures = 0;
        this.hooks.changed();
      }
      return;
    }
    const { log } = this.options;
    log.info(
      { generation: pair.generation, notAfter: pair.notAfter },
      `new certificate generation ${pair.generation}: applying it`,
    );
    let applied = false;
    try {
      applied = await this.hooks.apply(pair);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        `applying generation ${pair.generation} failed: ${(err as Error).message}`,
      );
    }
    if (applied && (await this.confirm(pair))) return;
    this.failures += 1;
    const delay = Math.min(
      (this.options.retryMs ?? 1_000) * 2 ** (this.failures - 1),
      this.options.maxRetryMs ?? 300_000,
    );
    const stillOld = this.checks()
      .filter(([name]) => this.servedBy.get(name)?.generation !== pair.generation)
      .map(([name]) => name);
    const why = !applied
      ? 'the daemon did not take it'
      : this.hooks.targets
        ? `${stillOld.join(' and ')} still ${stillOld.length > 1 ? 'serve' : 'serves'} the old one`
        : 'the daemon still serves the old one';
    this.problem = `certificate generation ${pair.generation} is not in service yet (${why}); ${this.servedPair ? `generation ${this.servedPair.generation} is still served; ` : ''}retrying in ${Math.round(delay / 1000)} s`;
    log.error({ generation: pair.generation, failures: this.failures, retryMs: delay }, this.problem);
    this.hooks.changed();
    this.schedule(delay);
  }

  /** The checks that say what each daemon serves: the targets, or the one `served`. */
  private checks(): Array<[string, () => Promise<string | undefined>]> {
    if (this.hooks.targets) return Object.entries(this.hooks.targets);
    return this.hooks.served ? [['daemon', this.hooks.served]] : [];
  }

  /** While the daemons serve different generations: which serves which, for readiness. */
  private lagging(): string | null {
    const served = this.checks().map(([name]) => `${name} serves ${this.servedBy.get(name)?.generation ?? 'nothing'}`);
    const generations = new Set(this.checks().map(([name]) => this.servedBy.get(name)?.generation));
    return generations.size > 1 ? `the daemons serve different certificates: ${served.join(', ')}` : null;
  }

  /**
   * Served when every daemon's handshake carries this pair's certificate, each checked until
   * confirmMs has passed. A daemon that confirms is recorded as serving it even when another
   * lags: status shows the generation each one serves.
   */
  private async confirm(pair: CertificatePair): Promise<boolean> {
    const want = new X509Certificate(pair.cert).fingerprint256;
    const deadline = Date.now() + (this.options.confirmMs ?? 5_000);
    const checks = this.checks();
    const outcomes = await Promise.all(
      checks.map(async ([name, served]) => {
        let seen: string | undefined;
        for (;;) {
          seen = await served().catch(() => undefined);
          if (seen === want || Date.now() > deadline || this.closed) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        if (seen === want) this.servedBy.set(name, pair);
        else {
          const who = this.hooks.targets ? name : 'the daemon';
          this.options.log.warn(
            { generation: pair.generation, target: name, want, seen: seen ?? null },
            `${who} does not serve generation ${pair.generation} yet (it answers with ${seen ? 'another certificate' : 'nothing'})`,
          );
        }
        return seen === want;
      }),
    );
    if (outcomes.includes(false)) {
      this.hooks.changed();
      return false;
    }
    const previous = this.servedPair?.generation;
    this.servedPair = pair;
    this.problem = null;
    this.failures = 0;
    const by = checks.length > 1 ? ` by ${checks.map(([name]) => name).join(' and ')}` : '';
    this.options.log.info(
      { generation: pair.generation, previous: previous ?? null, fingerprint: want },
      `serving certificate generation ${pair.generation}${checks.length > 0 ? ` (confirmed by a TLS handshake${by})` : ''}`,
    );
    this.hooks.changed();
    return true;
  }
}

/** Whether a certificate's names cover `name`: exactly, or by a wildcard for one label. */
export function covers(certNames: readonly string[], name: string): boolean {
  const n = name.toLowerCase();
  return certNames.some((c) => {
    const cn = c.toLowerCase();
    if (cn === n) return true;
    if (!cn.startsWith('*.')) return false;
    const dot = n.indexOf('.');
    return dot > 0 && n.slice(dot + 1) === cn.slice(2);
  });
}
