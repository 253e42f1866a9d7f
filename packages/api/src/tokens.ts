import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PodServeError } from '@podserve/runtime/errors';

export type Scope = 'read' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'admin'];

export interface TokenEntry {
  name: string;
  scope: Scope;
  /** SHA-256 of the token: the file never holds a token itself. */
  digest: Buffer;
}

/** A token file that cannot be used: names the file and line, never a field's value. */
export class TokenFileError extends PodServeError {
  override readonly name = 'TokenFileError';
}

const NAME = /^[a-z][a-z0-9_.-]{0,62}$/;
const HASH = /^sha256:([0-9a-f]{64})$/;

/**
 * `API_TOKENS_FILE`: one token a line, `NAME SCOPE sha256:HEX`, `#` comments. A SHA-256 is
 * enough here (GitHub stores its tokens the same way): the tokens are 256 random bits, not
 * passwords a person chose, so nothing is gained by a slow hash and every request would pay it.
 */
export function parseTokens(text: string, file: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `API_TOKENS_FILE (${file}) line ${index + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) {
      throw new TokenFileError(
        `${where}: expected NAME SCOPE sha256:HEX (three fields); found ${fields.length} field(s)`,
      );
    }
    const [name = '', scope = '', hash = ''] = fields;
    if (!NAME.test(name)) {
      throw new TokenFileError(
        `${where}: the name must be lower-case letters, digits, _ . or - (at most 63); found "${name.slice(0, 63)}"`,
      );
    }
    if (!SCOPES.includes(scope as Scope)) {
      throw new TokenFileError(`${where}: the scope must be read or admin; found "${scope.slice(0, 20)}"`);
    }
    const match = HASH.exec(hash);
    // The third field's value is never shown: it may be a token pasted in clear.
    if (!match) {
      throw new TokenFileError(
        `${where}: the third field must be sha256: and 64 lower-case hex digits, the token's hash (never the token itself; its value is not shown)`,
      );
    }
    if (entries.some((e) => e.name === name)) throw new TokenFileError(`${where}: the name "${name}" is used twice`);
    entries.push({ name, scope: scope as Scope, digest: Buffer.from(match[1] as string, 'hex') });
  });
  if (entries.length === 0)
    throw new TokenFileError(`API_TOKENS_FILE (${file}) holds no token: nobody could call the API`);
  return entries;
}

/**
 * The file's entries; `decoded` when it held them base64-encoded: podman 4.3 mounts a
 * Kubernetes Secret's values without decoding them. A file of token lines always has spaces,
 * and base64 never does, so the two cannot be mistaken for each other.
 */
export async function readTokens(file: string): Promise<{ entries: TokenEntry[]; decoded: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenFileError(`API_TOKENS_FILE (${file}) cannot be read (${code}): the API needs its token hashes`);
  }
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    const decoded = Buffer.from(trimmed, 'base64').toString('utf8');
    if (decoded.includes('sha256:')) return { entries: parseTokens(decoded, file), decoded: true };
  }
  return { entries: parseTokens(text, file), decoded: false };
}

/** The development tokens' hashes (dev/api-*.token, known to everyone): refused in production. */
export const DEVELOPMENT_TOKEN_HASHES: readonly string[] = [
  '222e2e4722fe04230d533cc13808177af461316364d52762753bdd9bdb1e99bb',
  '1074dc7654367b69b1add279b102a714c9d88ed00439eeeed48b94881df58bc2',
];

/** Refuses, by name, any entry that is a development token. */
export function refuseDevelopmentTokens(entries: readonly TokenEntry[], file: string): void {
  const dev = entries.filter((e) => DEVELOPMENT_TOKEN_HASHES.includes(e.digest.toString('hex')));
  if (dev.length > 0) {
    throw new TokenFileError(
      `API_TOKENS_FILE (${file}) holds the development token(s) ${dev.map((e) => `"${e.name}"`).join(', ')}, which everyone with PodServe's repository knows: make new ones with api-token for PODSERVE_ENV=production`,
    );
  }
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The line for API_TOKENS_FILE of a token. */
export function tokenLine(name: string, scope: Scope, token: string): string {
  return `${name} ${scope} sha256:${tokenDigest(token).toString('hex')}`;
}

/** A new token: 256 random bits, URL-safe, with a prefix that secret scanners can recognise. */
export function newToken(): string {
  return `podserve_${randomBytes(32).toString('base64url')}`;
}

/**
 * The entry a presented token matches, if any. Every entry is compared, in constant time, and
 * none is skipped on a match: the time taken says nothing about which or whether one matched.
 */
export function authenticate(entries: readonly TokenEntry[], token: string): TokenEntry | undefined {
  const digest = tokenDigest(token);
  let found: TokenEntry | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
  }
  return found;
}

/** admin may do everything read may. */
export function allows(held: Scope, needed: Scope): boolean {
  return held === 'admin' || needed === 'read';
}
