import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type FileOps, type Logger, resolveGid, resolveUid } from '@podserve/runtime';

export interface TsigKey {
  name: string;
  algorithm: 'hmac-sha256';
  /** Base64: never logged, never in an error message. */
  secret: string;
}

export interface KeyOwner {
  uid: number;
  gid: number;
}

/** A BIND `key` clause: what named includes and `nsupdate -k` / `rndc -k` read. */
export function keyClause(key: TsigKey): string {
  return `key "${key.name}" {\n\talgorithm ${key.algorithm};\n\tsecret "${key.secret}";\n};\n`;
}

/** The secret out of a `key` clause, or undefined when the file is not one for `name`. */
export function parseKeyClause(text: string, name: string): TsigKey | undefined {
  const match = /key\s+"([^"]+)"\s*\{[^}]*?algorithm\s+([\w-]+);[^}]*?secret\s+"([A-Za-z0-9+/=]+)";/s.exec(text);
  if (!match || match[1] !== name || match[2] !== 'hmac-sha256') return undefined;
  return { name, algorithm: 'hmac-sha256', secret: match[3] as string };
}

function newKey(name: string): TsigKey {
  // 32 bytes: what tsig-keygen makes for hmac-sha256.
  return { name, algorithm: 'hmac-sha256', secret: randomBytes(32).toString('base64') };
}

/**
 * The TSIG key `name` from `keyFile`, made on the first start and kept from then on: the
 * certificates service and the secondaries hold copies. `secretFile` (optional) gets the bare
 * secret too, for ACME_TSIG_SECRET_FILE. A file that is there but not a key for `name` is
 * someone's: it is refused, not overwritten.
 */
export async function ensureTsigKey(
  files: FileOps,
  log: Logger,
  paths: { keyFile: string; secretFile?: string },
  name: string,
  owner: KeyOwner,
): Promise<TsigKey> {
  const existing = await readFile(paths.keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  let key: TsigKey;
  if (existing === undefined) {
    key = newKey(name);
    log.info({ key: name, file: paths.keyFile }, `generated the TSIG key "${name}" (${paths.keyFile})`);
  } else {
    const parsed = parseKeyClause(existing, name);
    if (!parsed) {
      throw new Error(
        `${paths.keyFile} is not a BIND key clause for "${name}" with hmac-sha256; left as it is (move it away to have a new key made)`,
      );
    }
    key = parsed;
    log.debug({ key: name, file: paths.keyFile }, `TSIG key "${name}" kept`);
  }
  const options = { mode: 0o640, uid: owner.uid, gid: owner.gid, loggable: false };
  await files.writeFile(paths.keyFile, keyClause(key), options);
  if (paths.secretFile) await files.writeFile(paths.secretFile, `${key.secret}\n`, options);
  return key;
}

/** A key only this container uses (rndc's, the control actions'): new at every start, root:bind 0640. */
export async function writeRunKey(files: FileOps, path: string, name: string, owner: KeyOwner): Promise<TsigKey> {
  const key = newKey(name);
  await files.writeFile(path, keyClause(key), { mode: 0o640, uid: 0, gid: owner.gid, loggable: false });
  return key;
}

/**
 * Who owns what: named's files belong to bind (Debian's named user); the update key is bind's
 * with group certgroup, so the certificates container may read it. Outside the dns image
 * (no such user or group) root owns everything.
 */
export function dnsOwners(): { bind: KeyOwner; tsig: KeyOwner } {
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
