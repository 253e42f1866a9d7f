import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigSet,
  type ConfigSetHooks,
  ConfigTransaction,
  type HealthResult,
  type ProcessSpec,
  resolveGid,
  resolveUid,
  type ServiceAction,
  writeFileAtomic,
} from '@podserve/runtime';
import { type DaemonCertificates, DaemonService, reloadAndConfirm } from '@podserve/runtime/daemon';
import { mailActions } from './actions.js';
import { checkDovecot, checkOpendkim, checkPostfix, checkPostfixInstallation } from './checkers.js';
import type { MailEnv } from './config.js';
import { dkimRecordValue, ensureDkimKey } from './dkim.js';
import { DkimPublisher } from './dkim-publisher.js';
import { renderDovecot } from './dovecot-conf.js';
import { MailboxStore } from './mailbox-store.js';
import { renderOpendkim } from './opendkim-conf.js';
import { renderPostfix } from './postfix-conf.js';
import { dovecotServed, mailAnswering, mailServing, postfixServed } from './probes.js';
import { mailProcesses } from './processes.js';
import { type MailSettings, mailSettings } from './settings.js';
import { SocketmapServer } from './socketmap-server.js';

/** What each master says once a reload (SIGHUP) has its new configuration. */
const POSTFIX_RELOADED = /postfix\/master\[\d+\]: reload -- version/;
const DOVECOT_RELOADED = /SIGHUP received - reloading configuration/;
const RELOAD_PROOF_MS = 10_000;

/**
 * `node dist/main.js mail`: postfix, dovecot 2.4 and opendkim under one runtime. Their three
 * configurations commit as one transaction (postconf and postfix check, doveconf, opendkim -n
 * on the staged sets; then reloads confirmed by each master's own line); the certificate
 * follower puts every generation into postfix and dovecot and confirms each by the certificate
 * served on 465 and 993. Users and aliases belong to this service alone (MailboxStore): dovecot
 * reads its passwd-file, postfix asks PID 1 through a socketmap.
 */
export class MailService extends DaemonService<MailEnv> {
  private settings!: MailSettings;
  private store!: MailboxStore;
  private maps: SocketmapServer | undefined;
  private dkimRecord: string | undefined;
  private dkimPublisher: DkimPublisher | undefined;

  override async validate(): Promise<boolean> {
    this.settings = mailSettings(this.config, this.ctx.common);
    this.log.debug(
      { settings: { ...this.settings, admin: this.settings.admin?.address, relay: this.settings.relay?.host } },
      'settings derived',
    );
    return true;
  }

  async configure(): Promise<boolean> {
    const s = this.settings;
    const p = s.paths;
    const files = this.ctx.files;
    const ids = owners();
    await files.ensureDir(p.run, { mode: 0o755 });
    await files.ensureDir(`${p.run}/sockets`, { mode: 0o755 });
    await files.ensureDir(p.dovecotBase, { mode: 0o755 });
    await files.ensureDir(p.state, { mode: 0o755 });
    await files.ensureDir(p.mailboxes, { mode: 0o700, ...ids.vmail });
    await files.ensureDir(p.queue, { mode: 0o755 });
    await files.ensureDir(p.postfixData, { mode: 0o700, ...ids.postfix });

    const set = (root: string, hooks: ConfigSetHooks) =>
      new ConfigSet(root, hooks, this.log, this.ctx.common.logConfigs);
    const tls = () => this.pair?.dir ?? `${s.certPath}/current`;
    this.configs = new ConfigTransaction(
      [
        set(p.opendkimConf, {
          render: () => renderOpendkim(s),
          check: (dir) => checkOpendkim(this.ctx.commands, dir, this.ctx.dryRun),
          reload: () => this.ctx.supervisor.require('opendkim').restartOnRequest(),
        }),
        set(p.dovecotConf, {
          render: () => renderDovecot(s, tls()),
          check: (dir) => checkDovecot(this.ctx.commands, dir),
          reload: () => this.reloadDaemon('dovecot', DOVECOT_RELOADED),
        }),
        set(p.postfixConf, {
          render: () => renderPostfix(s, tls()),
          compile: (dir) => backdate(dir, ['main.cf', 'master.cf']),
          check: (dir) => checkPostfix(this.ctx.commands, dir),
          reload: () => this.reloadDaemon('postfix', POSTFIX_RELOADED),
        }),
      ],
      this.log,
    );
    if (this.ctx.dryRun) return this.preview({ postfix: 'postconf', dovecot: 'doveconf -n', opendkim: 'opendkim -n' });

    const key = await ensureDkimKey(files, p.dkimKey, ids.opendkim, this.log);
    this.dkimRecord = dkimRecordValue(key.pem);
    this.log.info(
      { selector: s.dkimSelector, record: this.dkimRecord },
      `DKIM: publish TXT "${this.dkimRecord}" at ${s.dkimSelector}._domainkey of ${s.domains.join(', ')} (ctl dkim prints it)`,
    );
    if (s.relay?.user && s.relay.password) {
      // postfix's smtp client reads it (texthash); a file of its own, 0640 root:postfix.
      await writeFileAtomic(p.relayPassword, `${s.relay.host} ${s.relay.user}:${s.relay.password}\n`, {
        mode: 0o640,
        gid: ids.postfix.gid,
      });
    }

    this.store = new MailboxStore(
      { users: p.users, aliases: p.aliases, lock: p.usersLock, mailboxes: p.mailboxes },
      s.domains,
      s.admin?.address,
      ids.dovecot.gid,
      this.log,
    );
    this.store.load();
    // dovecot's passwd-file exists from the start: an empty one is "no users", a missing one an error.
    if (!existsSync(p.users)) await writeFileAtomic(p.users, '', { mode: 0o640, gid: ids.dovecot.gid });
    if (s.admin?.password) await this.store.ensureUser(s.admin.address, s.admin.password);

    this.maps = new SocketmapServer(p.socketmap, (map, k) => this.store.lookup(map, k), this.log);
    await this.maps.listen(0o660, { uid: 0, gid: ids.postfix.gid });
    return true;
  }

  /**
   * `postfix check` once before postfix first starts: it makes the queue's directories on a
   * fresh volume and fixes their owners (about a second: not paid on every commit).
   */
  protected override async beforeDaemons(): Promise<boolean> {
    const check = await checkPostfixInstallation(this.ctx.commands, `${this.settings.paths.postfixConf}/current`);
    if (!check.ok) this.log.error(`postfix check refused the installation: ${check.message}`);
    return check.ok;
  }

  protected daemons(): ProcessSpec[] {
    return mailProcesses(this.settings);
  }

  protected override certificates(): DaemonCertificates {
    const s = this.settings;
    return {
      certPath: s.certPath,
      names: [s.hostname],
      targets: { postfix: () => postfixServed(s), dovecot: () => dovecotServed(s) },
    };
  }

  protected serving(): Promise<HealthResult> {
    return mailServing(this.settings);
  }

  protected override answering(): Promise<HealthResult> {
    return mailAnswering(this.settings);
  }

  protected override details(): Record<string, unknown> {
    return {
      hostname: this.settings?.hostname,
      domains: this.settings?.domains,
      users: this.store?.listUsers().length ?? 0,
      dkim: this.dkimPublisher?.state ?? null,
    };
  }

  /** Once the daemons run: the DKIM record into the pod's dns (in the background, retried). */
  protected override async started(): Promise<void> {
    const s = this.settings;
    if (!this.dkimRecord) return;
    this.dkimPublisher = new DkimPublisher(
      { ...s.dkimPublish, domains: s.domains, selector: s.dkimSelector, record: this.dkimRecord },
      this.ctx.commands,
      this.log,
    );
    this.dkimPublisher.start();
  }

  override actions(): Record<string, ServiceAction> {
    return mailActions({
      store: () => this.store,
      commands: this.ctx.commands,
      settings: () => this.settings,
      dkimRecord: () => this.dkimRecord,
    }) as Record<string, ServiceAction>;
  }

  override async stop(): Promise<void> {
    this.dkimPublisher?.stop();
    await super.stop();
    await this.maps?.close();
  }

  /** A master's reload, confirmed by its own line; a daemon not running has nothing to reload. */
  private async reloadDaemon(name: 'postfix' | 'dovecot', confirmation: RegExp): Promise<boolean> {
    const outcome = await reloadAndConfirm(this.ctx.supervisor.require(name), confirmation, RELOAD_PROOF_MS);
    if (outcome !== 'resumed') this.log.error({ outcome }, `${name} did not confirm its reload (${outcome})`);
    return outcome === 'resumed';
  }
}

/**
 * postfix reads a main.cf written less than a second or two ago over and over, sleeping in
 * between (it guards against a file an editor is still writing): measured, postconf took 1.8 s
 * on every fresh set, which every renewal paid. Our files are complete before anything reads
 * them, so they get an mtime in the past.
 */
async function backdate(dir: string, names: readonly string[]): Promise<void> {
  const past = new Date(Date.now() - 10_000);
  for (const name of names) utimesSync(join(dir, name), past, past);
}

/** Debian's users for the daemons, and vmail (images/mail); root outside the image. */
function owners() {
  const id = (resolve: (name: string) => number, name: string) => {
    try {
      return resolve(name);
    } catch {
      return 0;
    }
  };
  const of = (user: string) => ({ uid: id(resolveUid, user), gid: id(resolveGid, user) });
  return { vmail: of('vmail'), postfix: of('postfix'), dovecot: of('dovecot'), opendkim: of('opendkim') };
}
