import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSet, type HealthResult, type ProcessSpec, type ServiceAction } from '@podserve/runtime';
import { DaemonService } from '@podserve/runtime/daemon';
import type { DnsEnv } from './config.js';
import { dnsActions } from './dns-actions.js';
import { checkDnsSet } from './dns-checks.js';
import { DynamicRecords } from './dynamic-records.js';
import { whileFrozen } from './frozen.js';
import { dnsOwners, ensureTsigKey, writeRunKey } from './keys.js';
import { NamedControl } from './named-control.js';
import { namedProcess } from './named-process.js';
import { type DnsSettings, dnsSettings } from './settings.js';
import { CONTROL_KEY, renderDnsSet } from './zone-source.js';
import { ZoneStore } from './zone-store.js';

/**
 * `node dist/main.js dns`: Debian's BIND 9, authoritative for the pod's zone, rendered from
 * the environment at every start. named.conf goes through a ConfigSet (named-checkconf and
 * named-checkzone on the staged set, one swap, `rndc reconfig`); the zone file goes through
 * the ZoneStore, which keeps the dynamic (RFC 2136) records across every change.
 */
export class DnsService extends DaemonService<DnsEnv> {
  private settings!: DnsSettings;
  private namedConf!: ConfigSet;
  private store!: ZoneStore;
  private dynamic!: DynamicRecords;
  private named!: NamedControl;
  /** The serial the last install gave the zone: what a confirmation waits for. */
  private target = 0;

  override async validate(): Promise<boolean> {
    this.settings = dnsSettings(this.config);
    this.log.debug({ settings: this.settings }, 'settings derived');
    return true;
  }

  async configure(): Promise<boolean> {
    const s = this.settings;
    const p = s.paths;
    const files = this.ctx.files;
    const { bind, tsig } = dnsOwners();
    await files.ensureDir(join(p.confRoot, '..'), { mode: 0o755 });
    await files.ensureDir(p.confRoot, { mode: 0o755 });
    await files.ensureDir(p.workDir, { mode: 0o750, ...bind });
    await files.ensureDir(join(p.zonesDir, '..'), { mode: 0o755 });
    await files.ensureDir(p.zonesDir, { mode: 0o750, ...bind });
    await files.ensureDir(p.keysDir, { mode: 0o700, ...bind });
    // bind reads the keys (named.conf includes them); certgroup (the certificates container) too.
    await files.ensureDir(p.tsigDir, { mode: 0o750, ...tsig });
    this.store = new ZoneStore(s, this.ctx.commands, files, bind, this.log);
    this.named = new NamedControl(s, this.ctx.commands, this.log, this.ctx.signal);
    this.configs = this.namedConf = new ConfigSet(
      p.confRoot,
      {
        render: () => renderDnsSet(s, this.log),
        check: (dir) =>
          checkDnsSet(dir, s, { commands: this.ctx.commands, store: this.store, dryRun: this.ctx.dryRun }),
        reload: () => this.apply(true),
        confirm: () => this.named.confirmServing(this.target),
      },
      this.log,
      this.ctx.common.logConfigs,
    );
    if (this.ctx.dryRun) return this.preview('named-checkconf and named-checkzone');

    const update = await ensureTsigKey(
      files,
      this.log,
      { keyFile: p.updateKey, secretFile: p.updateSecret },
      s.updateKeyName,
      tsig,
    );
    this.ctx.addSecret(update.secret);
    // The mail container reads it (root in its own container); certgroup like the update key.
    const dkim = await ensureTsigKey(files, this.log, { keyFile: p.dkimKey }, s.dkimKeyName, tsig);
    this.ctx.addSecret(dkim.secret);
    if (s.secondaries.length > 0) {
      // bind's alone: the secondaries' operators get a copy, the certificates container has no use for it.
      const transfer = await ensureTsigKey(files, this.log, { keyFile: p.transferKey }, s.transferKeyName, bind);
      this.ctx.addSecret(transfer.secret);
    }
    for (const [path, name] of [
      [p.rndcKey, 'rndc-key'],
      [p.controlKey, CONTROL_KEY],
    ] as const) {
      this.ctx.addSecret((await writeRunKey(files, path, name, bind)).secret);
    }
    this.dynamic = new DynamicRecords(s, this.store, this.ctx.commands, this.log);
    // The whole configuration, checked and installed before named starts: a zone named would
    // refuse fails here, with the checker's file:line (exit 73), and nothing is served half-right.
    const first = await this.configs.commit('start', { firstStart: true });
    return first.ok && (await this.apply(false));
  }

  protected daemons(): ProcessSpec[] {
    return [namedProcess(this.settings)];
  }

  /**
   * READY=1 comes once the zone is loaded; signing it takes a moment more. Readiness is
   * published again when it is served as configured, not at the next periodic re-check.
   */
  protected override async started(): Promise<void> {
    if (!(await this.named.confirmServing(this.target)))
      this.log.warn('named started but does not serve the zone as installed yet');
  }

  protected async serving(): Promise<HealthResult> {
    const s = this.settings;
    for (const transport of ['udp', 'tcp'] as const) {
      const answer = await this.named.soa(transport, 1_000).catch((err: Error) => err);
      if (answer instanceof Error) return { ok: false, reason: `no SOA answer over ${transport}: ${answer.message}` };
      if (!answer.aa || answer.serial === undefined) {
        return { ok: false, reason: `the SOA answer over ${transport} is not authoritative (rcode ${answer.rcode})` };
      }
      if (s.dnssec && !answer.signed)
        return { ok: false, reason: `${s.zone} is not signed yet (no RRSIG with its SOA)` };
    }
    return { ok: true, reason: `authoritative for ${s.zone} on port ${s.port}${s.dnssec ? ', DNSSEC-signed' : ''}` };
  }

  protected override async answering(): Promise<HealthResult> {
    const answer = await this.named.soa('udp', 1_000).catch(() => undefined);
    const proc = this.ctx.supervisor.get('named');
    return answer
      ? { ok: true, reason: 'named is running' }
      : { ok: false, reason: `named (pid ${proc?.pid}) does not answer within 1 s` };
  }

  protected override details(): Record<string, unknown> {
    return { zone: this.settings?.zone, serial: this.named?.servedSerial ?? null, dnssec: this.settings?.dnssec };
  }

  override actions(): Record<string, ServiceAction> {
    return dnsActions({
      settings: this.settings,
      commands: this.ctx.commands,
      dynamic: () => this.dynamic,
      namedState: () => this.ctx.supervisor.get('named')?.state,
    });
  }

  /**
   * Makes named serve `current`: the zone file when its static part changed (between
   * `rndc freeze` and `rndc thaw` while named runs), then `rndc reconfig` for named.conf.
   */
  private async apply(running: boolean): Promise<boolean> {
    const s = this.settings;
    const staticZone = readFileSync(join(this.namedConf.current, `db.${s.zone}`), 'utf8');
    // A zone file gone from the volume (restored from a backup without it) is installed again too.
    const changed = staticZone !== (await this.store.installedStatic()) || !existsSync(s.paths.zoneFile);
    if (!running) return changed ? this.install(staticZone) : true;
    if (!(await this.daemonsRunning())) return false;
    if (!changed) return this.named.rndc(['reconfig']);
    return whileFrozen(
      (args) => this.named.rndc(args),
      s.zone,
      this.ctx.signal,
      this.log,
      async () => {
        const installed = await this.install(staticZone);
        return (await this.named.rndc(['reconfig'])) && installed;
      },
    );
  }

  private async install(staticZone: string): Promise<boolean> {
    const outcome = await this.store.install(staticZone);
    if (outcome.ok) this.target = outcome.serial;
    return outcome.ok;
  }
}
