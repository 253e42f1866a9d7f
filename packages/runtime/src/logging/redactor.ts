/**
 * Scrubs known secret values out of free text: pino's `redact` only knows object
 * paths, but a secret also leaks through a daemon's output line or a command's argv.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  /** Every length counts: the env loader refuses secrets too short to redact without shredding text. */
  add(secret: string): void {
    if (secret !== '') this.secrets.add(secret);
  }

  get size(): number {
    return this.secrets.size;
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    }
    return out;
  }

  /**
   * Scrubs what a log record will serialise to, keeping its types: plain objects and arrays
   * are walked, a value with toJSON (a Date, a URL) is left alone when its JSON form holds no
   * secret (rebuilding a Date from its entries turned it into `{}`), an Error keeps its class
   * with message and stack scrubbed, and other class instances are walked like JSON would.
   */
  scrubDeep<T>(value: T, depth = 4): T {
    if (this.secrets.size === 0) return value;
    if (typeof value === 'string') return this.scrub(value) as T;
    if (depth === 0 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.scrubDeep(v, depth - 1)) as T;
    if (value instanceof Error) return this.scrubError(value) as T;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json = JSON.stringify(value);
      return (json !== undefined && this.scrub(json) !== json ? this.scrubDeep(JSON.parse(json), depth) : value) as T;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.scrubDeep(v, depth - 1);
    return out as T;
  }

  private scrubError(err: Error): Error {
    const message = this.scrub(err.message);
    const stack = err.stack === undefined ? undefined : this.scrub(err.stack);
    if (message === err.message && stack === err.stack) return err;
    const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
    for (const [k, v] of Object.entries(err)) (copy as unknown as Record<string, unknown>)[k] = this.scrubDeep(v, 2);
    Object.defineProperty(copy, 'message', { value: message, enumerable: false, writable: true, configurable: true });
    Object.defineProperty(copy, 'stack', { value: stack, enumerable: false, writable: true, configurable: true });
    return copy;
  }
}

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
