import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BadRequest,
  Conflict,
  errCode,
  errnoHint,
  FileLock,
  type Logger,
  NotFound,
  writeFileAtomic,
} from '@podserve/runtime';
import { encrypt, verify } from 'unixcrypt';
import { domainOf } from './addresses.js';

/**
 * SHA512-CRYPT rounds: 4× glibc's default of 5000, about 60 ms on this hardware. It runs on
 * PID 1's event loop (unixcrypt, node:crypto), once per added user or changed password.
 */
const ROUNDS = 20_000;
/** vmail owns every mailbox (images/mail/Containerfile). */
const VMAIL = { uid: 5000, gid: 5000 };

export interface StorePaths {
  /** dovecot's passwd-file: the users and their hashes. */
  users: string;
  /** Our aliases, JSON. */
  aliases: string;
  /** Held while a change is written: a second instance on the volume waits. */
  lock: string;
  /** Where each user's mailbox lives: DIR/DOMAIN/LOCAL. */
  mailboxes: string;
}

export interface UserInfo {
  address: string;
  home: string;
}

interface UserEntry extends UserInfo {
  /** The passwd-file line as stored (the hash included). */
  line: string;
}

/**
 * The mail service's users and aliases: the single writer of both. Users live in dovecot's
 * passwd-file (dovecot re-reads it on the next lookup once it changed) and in memory, where
 * postfix asks through the socketmap; aliases live in a JSON file and memory. A change is
 * written to a temporary file, fsynced and renamed over the old one under a lock, and only
 * then made visible in memory: a full disk leaves the old file whole and answers with an
 * error that says so, and dovecot and postfix learn a change at the same moment.
 */
export class MailboxStore {
  private users = new Map<string, UserEntry>();
  private aliases = new Map<string, string[]>();

  constructor(
    private readonly paths: StorePaths,
    /** The domains we receive mail for: a user or an alias source must be in one. */
    private readonly domains: readonly string[],
    /** postmaster@ and abuse@ of every domain, unless an alias names them. */
    private readonly postmaster: string | undefined,
    private readonly dovecotGid: number,
    private readonly log: Logger,
  ) {}

  /** Reads both files (missing: empty). A line we cannot read is skipped with a warning, never dropped on the next write silently. */
  load(): void {
    this.users = new Map();
    for (const line of readOptionalText(this.paths.users).split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      const fields = line.split(':');
      const address = fields[0] ?? '';
      if (fields.length < 7 || !address.includes('@')) {
        this.log.warn(
          { file: this.paths.users },
          `${this.paths.users}: a line that is not a user ("${address}…"); kept as it is`,
        );
      }
      this.users.set(address, { address, home: fields[5] ?? '', line });
    }
    const text = readOptionalText(this.paths.aliases);
    this.aliases = new Map(text ? Object.entries(JSON.parse(text) as Record<string, string[]>) : []);
    this.log.debug({ users: this.users.size, aliases: this.aliases.size }, 'users and aliases loaded');
  }

  listUsers(): UserInfo[] {
    return [...this.users.values()]
      .map(({ address, home }) => ({ address, home }))
      .sort((a, b) => a.address.localeCompare(b.address));
  }

  hasUser(address: string): boolean {
    return this.users.has(address);
  }

  listAliases(): Array<{ source: string; targets: string[] }> {
    return [...this.aliases.entries()]
      .map(([source, targets]) => ({ source, targets }))
      .sort((a, b) => a.source.localeCompare(b.source));
  }

  async addUser(address: string, password: string): Promise<UserInfo> {
    this.servedDomain(address);
    return this.change(`add user ${address}`, async () => {
      if (this.users.has(address))
        throw new Conflict(`${address} exists already (users set-password changes its password)`);
      if (this.aliases.has(address)) throw new Conflict(`${address} is an alias: delete the alias first`);
      const entry = this.entry(address, password);
      const next = new Map(this.users).set(address, entry);
      await this.writeUsers(next);
      this.users = next;
      await dovecotSeesIt();
      return { address, home: entry.home };
    });
  }

  /**
   * MAIL_ADMIN_ADDRESS at start: made when missing; its password set again when the Secret
   * changed (a password that still verifies is left alone, hash and all).
   */
  async ensureUser(address: string, password: string): Promise<void> {
    const entry = this.users.get(address);
    if (!entry) {
      await this.addUser(address, password);
      return;
    }
    const hash = entry.line.split(':')[1]?.replace(/^\{SHA512-CRYPT\}/, '') ?? '';
    if (!hash.startsWith('$6$') || !verify(password, hash)) await this.setPassword(address, password);
  }

  async setPassword(address: string, password: string): Promise<{ address: string }> {
    return this.change(`set the password of ${address}`, async () => {
      if (!this.users.has(address)) throw new NotFound(`no user ${address}`);
      const next = new Map(this.users).set(address, this.entry(address, password));
      await this.writeUsers(next);
      this.users = next;
      await dovecotSeesIt();
      return { address };
    });
  }

  /** The mailbox stays on the volume: deleting a user never deletes mail. */
  async deleteUser(address: string): Promise<{ deleted: string; mailboxKept: string }> {
    return this.change(`delete user ${address}`, async () => {
      const entry = this.users.get(address);
      if (!entry) throw new NotFound(`no user ${address}`);
      const next = new Map(this.users);
      next.delete(address);
      await this.writeUsers(next);
      this.users = next;
      await dovecotSeesIt();
      return { deleted: address, mailboxKept: entry.home };
    });
  }

  async addAlias(source: string, targets: string[]): Promise<{ source: string; targets: string[] }> {
    this.servedDomain(source);
    return this.change(`add alias ${source}`, async () => {
      if (this.users.has(source)) throw new Conflict(`${source} is a user: an alias cannot take its place`);
      if (this.aliases.has(source)) throw new Conflict(`the alias ${source} exists already (delete it first)`);
      const next = new Map(this.aliases).set(source, targets);
      await this.writeAliases(next);
      this.aliases = next;
      return { source, targets };
    });
  }

  async deleteAlias(source: string): Promise<{ deleted: string }> {
    return this.change(`delete alias ${source}`, async () => {
      if (!this.aliases.has(source)) throw new NotFound(`no alias ${source}`);
      const next = new Map(this.aliases);
      next.delete(source);
      await this.writeAliases(next);
      this.aliases = next;
      return { deleted: source };
    });
  }

  /**
   * postfix's lookups (socketmap): `mailbox` says whether an address has a mailbox (the value
   * is unused: delivery goes to dovecot over LMTP); `alias` rewrites an address. With a
   * catch-all (`@domain`) every user maps to itself first, or the catch-all would take
   * their mail too.
   */
  lookup(map: string, key: string): string | undefined {
    const address = key.toLowerCase();
    if (map === 'mailbox')
      return this.users.has(address)
        ? `${domainOf(address)}/${address.slice(0, address.lastIndexOf('@'))}/`
        : undefined;
    if (map === 'alias') {
      const targets = this.aliases.get(address);
      if (targets) return targets.join(',');
      if (this.users.has(address)) return address;
      const local = address.slice(0, address.lastIndexOf('@'));
      if (
        this.postmaster &&
        (local === 'postmaster' || local === 'abuse') &&
        this.domains.includes(domainOf(address))
      ) {
        return this.postmaster;
      }
      return undefined;
    }
    throw new Error(`no map named "${map}" (mailbox, alias)`);
  }

  private servedDomain(address: string): void {
    const domain = domainOf(address);
    if (!this.domains.includes(domain)) {
      throw new BadRequest(
        `${address}: ${domain} is not one of this server's domains (${this.domains.join(', ')}; MAIL_DOMAINS)`,
      );
    }
  }

  private entry(address: string, password: string): UserEntry {
    const at = address.lastIndexOf('@');
    const home = join(this.paths.mailboxes, address.slice(at + 1), address.slice(0, at));
    const hash = encrypt(password, `$6$rounds=${ROUNDS}$`);
    return { address, home, line: `${address}:{SHA512-CRYPT}${hash}:${VMAIL.uid}:${VMAIL.gid}::${home}::` };
  }

  /** One change at a time across instances: the lock file, then the write. */
  private async change<T>(what: string, work: () => Promise<T>): Promise<T> {
    const lock = new FileLock(this.paths.lock, this.log, 'changing users');
    await lock.acquire(10_000);
    try {
      // Another instance may have written since we read: start from what is on disk.
      this.load();
      const result = await work();
      this.log.info(`mail: ${what}`);
      return result;
    } catch (err) {
      if (errCode(err) === undefined) throw err;
      throw new Error(
        `could not ${what}: ${(err as Error).message}${errnoHint(errCode(err), 'the mail state volume')}; nothing was changed`,
      );
    } finally {
      await lock.release();
    }
  }

  /** 0640 root:dovecot: dovecot's auth reads it, nobody else. */
  private async writeUsers(users: Map<string, UserEntry>): Promise<void> {
    const lines = [...users.values()].map((u) => u.line);
    await writeFileAtomic(this.paths.users, `${lines.join('\n')}\n`, { mode: 0o640, gid: this.dovecotGid });
  }

  private async writeAliases(aliases: Map<string, string[]>): Promise<void> {
    await writeFileAtomic(this.paths.aliases, `${JSON.stringify(Object.fromEntries(aliases), null, 2)}\n`, {
      mode: 0o600,
    });
  }
}

/**
 * dovecot's passwd-file driver looks at the file at most once a second (it skips the check when
 * the last one was in the same second): a user added in the second of the previous lookup is
 * unknown to it until the next second, and a login tried then fails (with dovecot's failure
 * delay on top: measured 5.7 s from creation to a first successful login). So a change is
 * answered only once the clock has passed into the next second, when any lookup re-reads it.
 */
async function dovecotSeesIt(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1_010 - (Date.now() % 1_000)));
}

function readOptionalText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return '';
    throw err;
  }
}
