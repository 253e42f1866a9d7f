import { join } from 'node:path';
import { CURRENT_GENERATION_LINK } from '@podserve/runtime/tls';

/**
 * Everything under CERT_PATH, named in one place. Consumers (apache, postfix, dovecot)
 * only ever read the stable top-level names or `current/`; the rest is ours.
 *
 *   current -> generations/<id>          one rename switches it (atomic for readers)
 *   cert.pem -> current/cert.pem         (and the other PUBLISHED_FILES)
 *   generations/<id>/{cert,privkey,fullchain,chain,combined,ca}.pem, meta.json
 *   accounts/<directory-hash>/account.key (0600), account.json
 *   ca/ca.key (0600), ca/ca.pem          the self-signed issuer, reused across runs
 *   quarantine/<timestamp>/              material that was moved aside, never deleted
 *   state/renewal.json                   failure count and next attempt, survives restarts (0600, in 0700)
 *   .lock                                held while one instance issues
 *   renew-now                            created by anyone: a running cron instance renews
 */
/** Shared with the consumers, which read it: one name in one place. */
export const CURRENT = CURRENT_GENERATION_LINK;
export const GENERATIONS = 'generations';
export const META = 'meta.json';
export const TRIGGER = 'renew-now';

/** Files of a generation that get a stable top-level link. ca.pem only exists for self-signed. */
export const PUBLISHED_FILES = [
  'cert.pem',
  'privkey.pem',
  'fullchain.pem',
  'chain.pem',
  'combined.pem',
  'ca.pem',
] as const;
export type PublishedFile = (typeof PUBLISHED_FILES)[number];

/** Files holding private keys: group-readable so daemons in CERT_GROUP can load them, nobody else. */
export const KEY_FILES: ReadonlySet<string> = new Set(['privkey.pem', 'combined.pem']);

export const MODES = {
  dir: 0o755,
  cert: 0o644,
  key: 0o640,
  /** Our own secrets (account key, local CA key): root only. */
  secret: 0o600,
  secretDir: 0o700,
} as const;

export class Layout {
  constructor(readonly root: string) {}

  get current(): string {
    return join(this.root, CURRENT);
  }
  get generations(): string {
    return join(this.root, GENERATIONS);
  }
  generation(id: string): string {
    return join(this.root, GENERATIONS, id);
  }
  get accounts(): string {
    return join(this.root, 'accounts');
  }
  get caDir(): string {
    return join(this.root, 'ca');
  }
  get quarantine(): string {
    return join(this.root, 'quarantine');
  }
  get stateDir(): string {
    return join(this.root, 'state');
  }
  get renewalState(): string {
    return join(this.root, 'state', 'renewal.json');
  }
  get lock(): string {
    return join(this.root, '.lock');
  }
  get trigger(): string {
    return join(this.root, TRIGGER);
  }
  top(file: PublishedFile): string {
    return join(this.root, file);
  }
}
