import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  type CheckResult,
  ConfigSet,
  Conflict,
  type HealthResult,
  type ProcessSpec,
  resolveGid,
  resolveUid,
  type ServiceAction,
  Unavailable,
} from '@podserve/runtime';
import { DaemonService } from '@podserve/runtime/daemon';
import type { DnsEnv } from './config.js';
import { DynamicRecords } from './dynamic-records.js';
import { whileFrozen } from './frozen.js';
import { ensureTsigKey, type KeyOwner, keyClause, writeRunKey } from './keys.js';
import { renderNamedConf } from './named-conf.js';
import { queryDns } from './query.js';
import { parseRecord } from './records.js';
import { type DnsSettings, dnsSettings } from './settings.js';
import { renderZone } from './zone.js';
import { checkerMessage, ZoneStore } from './zone-store.js';

const NAMED = '/usr/sbin/named';
/** How long named may take to show a new zone serial after `rndc thaw` (inline signing re-signs first). */
const CONFIRM_MS = 15_000;
/** The key the control actions sign their updates with: made at every start, never leaves the container. */
const CONTROL_KEY = 'podserve-control';

/** The named process, as data: what `--dry-run`, status and the control socket show. */
export function namedProcess(s: DnsSettings): ProcessSpec {
  return {
    name: 'named',
    command: NAMED,
    // -f: foreground with the logging{} of named.conf (-g would ignore it); -u: drop to bind
    // once the ports are bound.
    args: ['-f', '-u', 'bind', '-c', join(s.paths.confRoot, 'current', 'named.conf')],
    restart: 'always',
    critical: false,
    // named sends READY=1 once it has loaded its zones ("running").
    readiness: { notify: true },
    stop: { signal: 'SIGTERM' },
    stopTimeoutMs: 8_000,
    startTimeoutMs: 30_000,
    healthIntervalMs: 10_000,
  };
}

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
  /** The serial named serves, as last confirmed. */
  private servedSerial: number | undefined;
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
    const { bind, tsig } = owners();
    await files.ensureDir(join(p.confRoot, '..'), { mode: 0o755 });
    await files.ensureDir(p.confRoot, { mode: 0o755 });
    await files.ensureDir(p.workDir, { mode: 0o750, ...bind });
    await files.ensureDir(join(p.zonesDir, '..'), { mode: 0o755 });
    await files.ensureDir(p.zonesDir, { mode: 0o750, ...bind });
    await files.ensureDir(p.keysDir, { mode: 0o700, ...bind });
    // bind reads the keys (named.conf includes them); certgroup (the certificates container) too.
    await files.ensureDir(p.tsigDir, { mode: 0o750, ...tsig });
    this.store = new ZoneStore(s, this.ctx.commands, files, bind, this.log);
    this.configs = this.namedConf = new ConfigSet(
      p.confRoot,
      {
        render: (dir) => this.render(dir),
        check: (dir) => this.check(dir),
        reload: () => this.apply(true),
        confirm: () => this.confirm(),
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
    if (!(await this.confirm())) this.log.warn('named started but does not serve the zone as installed yet');
  }

  protected async serving(): Promise<HealthResult> {
    const s = this.settings;
    for (const transport of ['udp', 'tcp'] as const) {
      const answer = await this.soa(transport, 1_000).catch((err: Error) => err);
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
    const answer = await this.soa('udp', 1_000).catch(() => undefined);
    const proc = this.ctx.supervisor.get('named');
    return answer
      ? { ok: true, reason: 'named is running' }
      : { ok: false, reason: `named (pid ${proc?.pid}) does not answer within 1 s` };
  }

  protected override details(): Record<string, unknown> {
    return { zone: this.settings?.zone, serial: this.servedSerial ?? null, dnssec: this.settings?.dnssec };
  }

  override actions(): Record<string, ServiceAction> {
    const dynamic = (change: boolean) => {
      if (!this.dynamic) throw new Unavailable('the service is not started yet: try again once it is ready');
      // Changes go through named: without it nsupdate would only time out.
      const named = this.ctx.supervisor.get('named')?.state;
      if (change && named !== 'running') {
        throw new Unavailable(`named is ${named ?? 'not started yet'}: records can be changed once it runs`);
      }
      return this.dynamic;
    };
    return {
      records: {
        summary: 'list the dynamic records (RFC 2136: ACME challenges, records added here)',
        run: async () => dynamic(false).list(),
      },
      'record-add': {
        summary: 'add a record: name=www type=A value=192.0.2.7 [ttl=300] (A, AAAA, CNAME, MX, TXT, SRV, CAA)',
        run: async (input) => dynamic(true).add(input),
      },
      'record-remove': {
        summary: 'remove records: name=www type=A [value=192.0.2.7: only that one]',
        run: async (input) => dynamic(true).remove(input),
      },
      ds: {
        summary: 'the DS record(s) to publish at the parent zone (DNSSEC)',
        run: async () => this.dsRecords(),
      },
    };
  }

  private render(_dir: string) {
    const s = this.settings;
    // Keys on disk: the zone was signed before, so turning DNSSEC off must go through insecure.
    const wasSigned = existsSync(s.paths.keysDir) && readdirSync(s.paths.keysDir).some((f) => f.endsWith('.private'));
    return [
      renderNamedConf({ settings: s, acmeNames: this.acmeNames(), wasSigned, controlKey: CONTROL_KEY }),
      { path: `db.${s.zone}`, content: this.renderStatic() },
    ];
  }

  /** The static zone with serial 0: the ZoneStore gives it a serial past every one served when it installs it. */
  private renderStatic(): string {
    const s = this.settings;
    const text = renderZone({
      zone: s.zone,
      serial: 0,
      addresses: s.addresses,
      records: s.records,
      caaIssuer: s.caaIssuer,
      dmarc: s.dmarc,
      dkim: this.dkim(),
    });
    if (!s.snippetFile) return text;
    return `${text}; DNS_ZONE_SNIPPET (${s.snippetFile}) follows\n${readFileSync(s.snippetFile, 'utf8')}\n`;
  }

  /** The mail service's DKIM key, `DNS_DKIM_PATH/SELECTOR.txt`, once it has published one. */
  private dkim(): { selector: string; txt: string } | undefined {
    const dir = this.settings.dkimPath;
    let file: string | undefined;
    try {
      file = readdirSync(dir)
        .filter((f) => /^[a-z0-9][a-z0-9-]*\.txt$/i.test(f))
        .sort()[0];
    } catch {
      return undefined; // not published yet
    }
    if (!file) return undefined;
    const selector = file.slice(0, -4);
    const raw = readFileSync(join(dir, file), 'utf8');
    // opendkim-genkey writes a whole record with quoted strings; a bare value is taken as is.
    const quoted = [...raw.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
    const value = (quoted || raw).replace(/\s+/g, ' ').trim();
    const record = parseRecord(`${selector}._domainkey TXT "${value.replaceAll('"', '')}"`);
    if (typeof record === 'string') {
      this.log.warn({ file: join(dir, file) }, `the DKIM key in ${join(dir, file)} is not usable: ${record}`);
      return undefined;
    }
    return { selector, txt: record.data };
  }

  /** The zone's own host names: the apex and every name with an address (their `_acme-challenge` is updatable). */
  private acmeNames(): string[] {
    const s = this.settings;
    const relative = new Set(['@', 'ns1', 'www', 'mail']);
    for (const r of s.records) {
      if (['A', 'AAAA', 'CNAME'].includes(r.type) && !r.name.includes('*')) relative.add(r.name);
    }
    return [...relative].map((n) => (n === '@' ? s.zone : `${n}.${s.zone}`));
  }

  private async check(dir: string): Promise<CheckResult> {
    const confFile = this.ctx.dryRun ? withStandInKeys(dir) : join(dir, 'named.conf');
    const conf = await this.ctx.commands.run(['named-checkconf', confFile], {
      reject: false,
      timeoutMs: 20_000,
    });
    if (conf.exitCode !== 0) return { ok: false, message: checkerMessage(`${conf.stdout}\n${conf.stderr}`) };
    const zoneFile = join(dir, `db.${this.settings.zone}`);
    const verdict = await this.store.checkZone(zoneFile);
    return verdict.ok ? verdict : { ok: false, message: this.inSnippet(zoneFile, verdict.message) };
  }

  /** A complaint about a line that came from DNS_ZONE_SNIPPET names that file and its own line. */
  private inSnippet(zoneFile: string, message: string): string {
    const snippet = this.settings.snippetFile;
    const located = new RegExp(`${zoneFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+): (.*)`).exec(message);
    if (!snippet || !located) return message;
    const marker = readFileSync(zoneFile, 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith('; DNS_ZONE_SNIPPET ('));
    const line = Number(located[1]) - (marker + 1);
    return marker >= 0 && line > 0 ? `DNS_ZONE_SNIPPET ${snippet}:${line}: ${located[2]}` : message;
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
    if (!changed) return this.rndc(['reconfig']);
    return whileFrozen(
      (args) => this.rndc(args),
      s.zone,
      this.ctx.signal,
      this.log,
      async () => {
        const installed = await this.install(staticZone);
        return (await this.rndc(['reconfig'])) && installed;
      },
    );
  }

  private async install(staticZone: string): Promise<boolean> {
    const outcome = await this.store.install(staticZone);
    if (outcome.ok) this.target = outcome.serial;
    return outcome.ok;
  }

  /** After a start or reload: named answers for the zone (signed, with DNSSEC), with the serial installed last. */
  private async confirm(): Promise<boolean> {
    const deadline = Date.now() + CONFIRM_MS;
    const target = this.target;
    for (;;) {
      const answer = await this.soa('udp', 1_000).catch(() => undefined);
      const signed = !this.settings.dnssec || answer?.signed;
      if (answer?.aa && signed && (answer.serial ?? 0) >= target) {
        this.servedSerial = answer.serial;
        return true;
      }
      if (this.ctx.signal.aborted) {
        this.log.debug({ target }, 'the service is stopping: no longer waiting for the new serial');
        return false;
      }
      if (Date.now() > deadline) {
        this.log.error(
          { target, seen: answer?.serial },
          `named did not serve serial ${target} within ${CONFIRM_MS} ms`,
        );
        return false;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async rndc(args: string[]): Promise<boolean> {
    const s = this.settings;
    const result = await this.ctx.commands.run(
      ['rndc', '-k', s.paths.rndcKey, '-s', '127.0.0.1', '-p', String(s.rndcPort), ...args],
      { reject: false, timeoutMs: 15_000 },
    );
    if (result.exitCode === 0) return true;
    this.log.error({ args }, `rndc ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
    return false;
  }

  private async soa(transport: 'udp' | 'tcp', timeoutMs: number) {
    const s = this.settings;
    const answer = await queryDns({
      host: '127.0.0.1',
      port: s.port,
      name: s.zone,
      type: 'SOA',
      transport,
      dnssec: s.dnssec,
      timeoutMs,
    });
    const soa = answer.answers.find((a) => a.type === 6) as { serial?: number } | undefined;
    return { ...answer, serial: soa?.serial, signed: answer.answerTypes.includes('RRSIG') };
  }

  private async dsRecords(): Promise<{ ds: string[] }> {
    if (!this.dynamic) throw new Unavailable('the service is not started yet: try again once it is ready');
    const s = this.settings;
    if (!s.dnssec) throw new Conflict('DNS_DNSSEC is off: the zone is not signed, so it has no DS record');
    const keys = readdirSync(s.paths.keysDir).filter((f) => f.startsWith(`K${s.zone}.`) && f.endsWith('.key'));
    const ds: string[] = [];
    for (const key of keys) {
      // Only keys that sign keys (KSK or CSK, flags 257) have a DS at the parent.
      if (!/\bDNSKEY\s+257\b/.test(readFileSync(join(s.paths.keysDir, key), 'utf8'))) continue;
      const result = await this.ctx.commands.run(['dnssec-dsfromkey', '-2', join(s.paths.keysDir, key)], {
        reject: false,
        timeoutMs: 10_000,
      });
      if (result.exitCode === 0) ds.push(...result.stdout.trim().split('\n'));
    }
    if (ds.length === 0) throw new Unavailable(`no signing key for ${s.zone} yet (named makes it on its first start)`);
    return { ds };
  }
}

/**
 * --dry-run writes no keys, so named.conf's includes would name files that are not there: the
 * checker reads a copy whose missing key files are stand-ins (a key clause with a random secret)
 * and whose working directory is the scratch directory.
 */
function withStandInKeys(dir: string): string {
  const text = readFileSync(join(dir, 'named.conf'), 'utf8')
    .replace(/^include "([^"]+)";$/gm, (line, path: string) => {
      if (existsSync(path)) return line;
      const name = { 'rndc.key': 'rndc-key', 'control.key': CONTROL_KEY }[basename(path)] ?? basename(path, '.key');
      return keyClause({ name, algorithm: 'hmac-sha256', secret: randomBytes(32).toString('base64') });
    })
    // named-checkconf changes into `directory`, which only a real start makes.
    .replace(/^(\s*(?:managed-keys-)?directory) "[^"]+";$/gm, `$1 "${dir}";`);
  const copy = join(dir, 'named.dry-run.conf');
  writeFileSync(copy, text);
  return copy;
}

/**
 * Who owns what: named's files belong to bind (Debian's named user); the update key is bind's
 * with group certgroup, so the certificates container may read it. Outside the dns image
 * (no such user or group) root owns everything.
 */
function owners(): { bind: KeyOwner; tsig: KeyOwner } {
  const id = (resolve: (name: string) => number, name: string, fallback: number) => {
    try {
      return resolve(name);
    } catch {
      return fallback;
    }
  };
  const bind = { uid: id(resolveUid, 'bind', 0), gid: id(resolveGid, 'bind', 0) };
  return { bind, tsig: { uid: bind.uid, gid: id(resolveGid, 'certgroup', bind.gid) } };
}
