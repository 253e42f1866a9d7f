import { setTimeout as delay } from 'node:timers/promises';
// Through the package's own name, not a relative path: a service bundle takes these from the
// runtime main.js loaded (one BaseService, one supervisor), and bundles only this subpath.
import {
  BaseService,
  type ConfigSet,
  type ConfigTransaction,
  type HealthResult,
  type ProcessSpec,
} from '@podserve/runtime';
import { CertificateFollower, type CertificatePair, covers } from '@podserve/runtime/tls';

/** Where a daemon's certificate comes from, and how to see the one it serves. */
export interface DaemonCertificates {
  certPath: string;
  /** Names a pair must cover to be served at all (the service's main name). */
  names: readonly string[];
  /** Names the daemons also answer for: a pair without them is served, with a warning. */
  alsoNames?: readonly string[];
  /** One daemon's served certificate (a TLS handshake to its port)… */
  served?: () => Promise<string | undefined>;
  /** …or several daemons, each with its own (postfix on 465, dovecot on 993). */
  targets?: Readonly<Record<string, () => Promise<string | undefined>>>;
}

/** How long a service that may start without a certificate looks for a published one first. */
const FIRST_LOOK_MS = 500;
/** How long a reload waits for a daemon that is being (re)started. */
const DAEMON_WAIT_MS = 20_000;
/** States a process does not leave by itself: a reload has nobody to apply to and says so at once. */
const DOWN = new Set(['stopped', 'exited', 'failed']);

/**
 * What every service that runs daemons shares, once: the configuration transaction (a set, or
 * several daemons' sets as one) whose refusal readiness and `ctl reload` report; the
 * certificate follower (first pair before the first start, then every generation through the
 * transaction, confirmed by what each daemon serves); starting the daemons; readiness as
 * processes → configuration → certificate → the service's own protocol checks; a reload that
 * waits for daemons being restarted and refuses when one is down; and the stop. A service adds
 * its env schema, templates, process declarations and probes.
 */
export abstract class DaemonService<C> extends BaseService<C> {
  /** The daemons' configuration: made in configure(). */
  protected configs!: ConfigSet | ConfigTransaction;
  protected follower: CertificateFollower | undefined;
  /** The certificate pair the next render points at (services that serve TLS). */
  protected pair: CertificatePair | undefined;
  /** Why the last reload could not be applied (a daemon down), until the next reload. */
  private blocked: string | undefined;

  /** The processes to supervise, started once the first configuration is in place. */
  protected abstract daemons(): ProcessSpec[];
  /** Readiness beyond running processes, a good configuration and a served certificate: the protocols answer. */
  protected abstract serving(): Promise<HealthResult>;
  /** Liveness beyond running processes: the daemons answer at all. */
  protected async answering(): Promise<HealthResult> {
    return { ok: true, reason: 'running' };
  }
  /** For a service whose daemons serve TLS from the certificates volume. */
  protected certificates(): DaemonCertificates | undefined {
    return undefined;
  }
  /** What status adds for this service (a zone's serial). */
  protected details(): Record<string, unknown> {
    return {};
  }
  /**
   * Whether the daemons may start before a certificate is published, on a configuration
   * rendered without one (`this.pair` undefined), and take the first pair like a renewal.
   * apache does: its port 80 carries the ACME HTTP-01 challenges the first certificate needs.
   */
  protected startsWithoutCertificate(): boolean {
    return false;
  }
  /** After the first configuration is in place, before any daemon starts: false stops the start. */
  protected async beforeDaemons(): Promise<boolean> {
    return true;
  }
  /** After the daemons started: what a service waits for before it calls the start done (a zone served). */
  protected async started(): Promise<void> {}

  async startProcesses(): Promise<boolean> {
    const tls = this.certificates();
    if (tls) {
      const follower = new CertificateFollower(
        { certPath: tls.certPath, names: tls.names, log: this.log },
        {
          apply: (pair) => this.applyCertificate(pair),
          served: tls.served,
          targets: tls.targets,
          changed: () => this.ctx.healthChanged(),
        },
      );
      this.follower = follower;
      const first = follower.waitForFirst(this.ctx.signal);
      const pair = this.startsWithoutCertificate()
        ? await Promise.race([first, delay(FIRST_LOOK_MS, null, { signal: this.ctx.signal }).catch(() => undefined)])
        : await first;
      if (pair === undefined) return false; // stopped while waiting
      if (pair === null) {
        this.log.info(
          `no certificate in ${tls.certPath} yet: starting without one; the first published is applied like a renewal`,
        );
      } else {
        this.pair = pair;
        this.warnUncovered(pair, tls);
      }
    }
    const why = this.pair ? `start with certificate generation ${this.pair.generation}` : 'start';
    const first = await this.configs.commit(why, { firstStart: true });
    if (!first.ok || this.ctx.signal.aborted) return false; // a stop that came meanwhile wins
    if (!(await this.beforeDaemons())) return false;
    for (const spec of this.daemons()) this.ctx.supervisor.add(spec);
    if (!(await this.ctx.supervisor.startAll())) return false;
    if (this.follower && this.pair) await this.follower.started(this.pair);
    else this.follower?.follow();
    await this.started();
    this.ctx.healthChanged();
    return true;
  }

  override async readiness(): Promise<HealthResult> {
    const processes = this.ctx.supervisor.readiness();
    if (!processes.ok) return processes;
    if (this.configs?.lastError) return { ok: false, reason: this.configs.lastError };
    // The certificate first: while none is published, that is why nothing runs yet.
    // (The follower exists from the start of startProcesses; before it there is no settings.)
    const tls = this.follower?.health();
    if (tls && !tls.ok) return tls;
    const down = this.daemons().find((d) => this.ctx.supervisor.get(d.name)?.state !== 'running');
    if (down)
      return { ok: false, reason: `${down.name} is ${this.ctx.supervisor.get(down.name)?.state ?? 'not started yet'}` };
    const serving = await this.serving();
    if (!serving.ok || !tls) return serving;
    return { ok: true, reason: `${serving.reason}; ${tls.reason}`, details: this.follower?.details() };
  }

  override async liveness(): Promise<HealthResult> {
    const supervisor = this.ctx.supervisor.liveness();
    if (!supervisor.ok) return supervisor;
    const running = this.daemons().every((d) => this.ctx.supervisor.get(d.name)?.state === 'running');
    // Between restarts there is nothing to ask: the supervisor's view is the answer.
    if (!running) return supervisor;
    return this.answering();
  }

  override statusDetails(): Record<string, unknown> {
    // Before configure() there are no configurations yet (a status call during start-up).
    const configs = this.configs as ConfigSet | ConfigTransaction | undefined;
    const configuration = !configs
      ? null
      : 'currentGeneration' in configs
        ? configs.currentGeneration()
        : Object.fromEntries(configs.sets.map((s) => [s.name, s.currentGeneration()]));
    return {
      ...(this.follower?.details() ?? {}),
      ...this.details(),
      configuration,
    };
  }

  override reloadProblem(): string | undefined {
    return this.blocked ?? this.configs?.lastError ?? undefined;
  }

  /**
   * SIGHUP and `ctl reload`: render again and go through the transaction. The daemons must run
   * to take it: an unchanged configuration never reaches them, so without asking first a
   * reload would claim success for a daemon that is down.
   */
  override async reload(): Promise<boolean> {
    this.blocked = undefined;
    if (!(await this.daemonsRunning())) {
      this.ctx.healthChanged();
      return false;
    }
    const outcome = await this.configs.commit('reload requested');
    this.ctx.healthChanged();
    return outcome.ok;
  }

  override async stop(): Promise<void> {
    await this.follower?.close();
    await this.ctx.supervisor.stopAll();
  }

  /**
   * A reload while a daemon restarts (after a crash) waits for it rather than failing; one
   * while a daemon is stopped, failed or gone fails at once, with the reason for `ctl reload`.
   */
  protected async daemonsRunning(): Promise<boolean> {
    const deadline = Date.now() + DAEMON_WAIT_MS;
    for (const spec of this.daemons()) {
      for (;;) {
        const state = this.ctx.supervisor.get(spec.name)?.state ?? 'not started';
        if (state === 'running') break;
        const waited = Date.now() > deadline;
        if (waited || DOWN.has(state) || this.ctx.signal.aborted) {
          this.blocked = `${spec.name} is ${state}${waited ? ` after ${DAEMON_WAIT_MS / 1000} s` : ''}: the configuration cannot be applied now (ctl start ${spec.name}, then reload)`;
          this.log.error(this.blocked);
          return false;
        }
        this.log.debug({ state }, `${spec.name} is ${state}: waiting for it to run`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return true;
  }

  /** A new generation: point the configuration at it and commit (the follower confirms it is served). */
  private async applyCertificate(pair: CertificatePair): Promise<boolean> {
    const before = this.pair;
    this.pair = pair;
    const tls = this.certificates();
    if (tls) this.warnUncovered(pair, tls);
    const outcome = await this.configs.commit(`certificate generation ${pair.generation}`);
    if (!outcome.ok) this.pair = before;
    return outcome.ok;
  }

  private warnUncovered(pair: CertificatePair, tls: DaemonCertificates): void {
    const uncovered = (tls.alsoNames ?? []).filter((n) => !covers(pair.names, n));
    if (uncovered.length > 0) {
      this.log.warn(
        { generation: pair.generation, uncovered },
        `certificate generation ${pair.generation} does not cover ${uncovered.join(', ')}: clients using those names will see a name mismatch`,
      );
    }
  }

  /**
   * --dry-run: the rendered sets and the checkers' verdict, logged. `checker` names the checker
   * (one for every set, or one per set's name); `accepted` is what an accepted set says.
   */
  protected async preview(
    checker: string | Readonly<Record<string, string>>,
    accepted = (name: string) => `${name}: OK`,
  ): Promise<boolean> {
    const sets = 'sets' in this.configs ? this.configs.sets : [this.configs];
    for (const set of sets) {
      const name = typeof checker === 'string' ? checker : (checker[set.name] ?? set.name);
      const verdict = await set.preview(this.ctx.files);
      const said = verdict.ok ? accepted(name) : `${name} refused it: ${verdict.message}`;
      this.log.info({ verdict, set: set.name }, `dry run: ${said}`);
    }
    return true;
  }
}
