/**
 * Scrubs known secret values out of free text: pino's `redact` only knows object
 * paths, but a secret also leaks through a daemon's output line or a command's argv.
 */
export class Redactor {
  /** Each secret with the number of holders: a password in flight may equal a configured one. */
  private readonly secrets = new Map<string, number>();

  /** Every length counts: the env loader refuses secrets too short to redact without shredding text. */
  add(secret: string): void {
    if (secret !== '') this.secrets.set(secret, (this.secrets.get(secret) ?? 0) + 1);
  }

  /**
   * Takes back one add(): an action's password is scrubbed while the action runs and then
   * forgotten, so the set does not grow with every user ever added. A secret added twice (by
   * the configuration as well) stays until both are taken back.
   */
  remove(secret: string): void {
    const holders = this.secrets.get(secret);
    if (holders === undefined) return;
    if (holders <= 1) this.secrets.delete(secret);
    else this.secrets.set(secret, holders - 1);
  }

  get size(): number {
    return this.secrets.size;
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets.keys()) {
      if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    }
    return out;
  }

  /**
   * Scrubs what a log record will serialise to, keeping its types: plain objects and arrays
   * are walked, a value with toJSON (a Date, a URL) is left alone when its JSON form holds no
   * secret (rebuilding a Date from its entries turned it into `{}`), an Error keeps its class
   * with message and stack scrubbed, and other class instances are walked like JSON would.
   * Any depth: a cycle maps to the copy already made (pino prints it as [Circular]); past
   * MAX_DEPTH levels, which no real record has, the value is withheld rather than walked.
   */
  scrubDeep<T>(value: T): T {
    if (this.secrets.size === 0) return value;
    return this.walk(value, 0, new WeakMap()) as T;
  }

  private walk(value: unknown, depth: number, seen: WeakMap<object, unknown>): unknown {
    if (typeof value === 'string') return this.scrub(value);
    if (value === null || typeof value !== 'object') return value;
    const copy = seen.get(value);
    if (copy !== undefined) return copy;
    if (depth >= MAX_DEPTH) return `[REDACTED: nested over ${MAX_DEPTH} levels]`;
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      seen.set(value, out);
      for (const v of value) out.push(this.walk(v, depth + 1, seen));
      return out;
    }
    if (value instanceof Error) return this.scrubError(value, depth, seen);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json = JSON.stringify(value);
      if (json === undefined || this.scrub(json) === json) return value;
      return this.walk(JSON.parse(json), depth, seen);
    }
    const out: Record<string, unknown> = {};
    seen.set(value, out);
    for (const [k, v] of Object.entries(value)) out[k] = this.walk(v, depth + 1, seen);
    return out;
  }

  private scrubError(err: Error, depth: number, seen: WeakMap<object, unknown>): Error {
    const message = this.scrub(err.message);
    const stack = err.stack === undefined ? undefined : this.scrub(err.stack);
    const fields = Object.entries(err);
    const clean = fields.every(([, v]) => this.walk(v, depth + 1, new WeakMap()) === v);
    if (message === err.message && stack === err.stack && clean) return err;
    const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
    seen.set(err, copy);
    for (const [k, v] of fields) (copy as unknown as Record<string, unknown>)[k] = this.walk(v, depth + 1, seen);
    Object.defineProperty(copy, 'message', { value: message, enumerable: false, writable: true, configurable: true });
    Object.defineProperty(copy, 'stack', { value: stack, enumerable: false, writable: true, configurable: true });
    return copy;
  }
}

/** Deeper than any real log record; a value nested further is withheld, never logged unscrubbed. */
const MAX_DEPTH = 1_000;

/** Object keys whose values are secrets wherever they appear in a log record. */
export const REDACTED_PATHS = [
  'password',
  'passphrase',
  'secret',
  'token',
  'privateKey',
  'accountKey',
  'authorization',
  'tsigSecret',
  '*.password',
  '*.passphrase',
  '*.secret',
  '*.token',
  '*.privateKey',
  '*.accountKey',
  '*.authorization',
  '*.tsigSecret',
  'headers.authorization',
];
