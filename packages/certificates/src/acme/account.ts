import { createHash } from 'node:crypto';
import { readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@podserve/runtime';
import { generatePrivateKey } from '../keys.js';
import { ensureDir, errCode, fsyncDir, type Ownership, writeNewFile } from '../storage/fsx.js';
import { type Layout, MODES } from '../storage/layout.js';

export interface AccountRecord {
  directoryUrl: string;
  url?: string;
  contact?: string[];
  createdAt: string;
}

/**
 * The ACME account key, one per directory (staging and production accounts are separate),
 * persisted 0600 under CERT_PATH/accounts: re-registering on every start would create a
 * new account each time and count against the CA's account rate limits.
 */
export class AccountStore {
  readonly dir: string;

  constructor(
    layout: Layout,
    private readonly directoryUrl: string,
    private readonly owner: Ownership | undefined,
    private readonly log: Logger,
  ) {
    const id = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
    this.dir = join(layout.accounts, id);
  }

  async key(): Promise<string> {
    const path = join(this.dir, 'account.key');
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
    await ensureDir(join(this.dir, '..'), MODES.secretDir, this.owner ? { uid: this.owner.uid, gid: 0 } : undefined);
    await ensureDir(this.dir, MODES.secretDir, this.owner ? { uid: this.owner.uid, gid: 0 } : undefined);
    const pem = await generatePrivateKey('ecdsa-p256');
    const tmp = `${path}.${process.pid}.tmp`;
    await unlink(tmp).catch(() => undefined);
    await writeNewFile(tmp, pem, MODES.secret, this.owner ? { uid: this.owner.uid, gid: 0 } : undefined);
    await rename(tmp, path);
    await fsyncDir(this.dir);
    this.log.info({ dir: this.dir, directoryUrl: this.directoryUrl }, 'created a new ACME account key (0600)');
    return pem;
  }

  async record(): Promise<AccountRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'account.json'), 'utf8')) as AccountRecord;
    } catch {
      return undefined;
    }
  }

  async saveRecord(record: AccountRecord): Promise<void> {
    const path = join(this.dir, 'account.json');
    const tmp = `${path}.${process.pid}.tmp`;
    await unlink(tmp).catch(() => undefined);
    await writeNewFile(tmp, `${JSON.stringify(record, null, 2)}\n`, MODES.cert, undefined);
    await rename(tmp, path);
  }
}
