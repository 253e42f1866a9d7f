/**
 * Scrubs known secret values out of free text: pino's `redact` only knows object
 * paths, but a secret also leaks through a daemon's output line or a command's argv.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string): void {
    // Very short values would shred ordinary text and protect nothing.
    if (secret.length >= 4) this.secrets.add(secret);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    }
    return out;
  }

  scrubDeep<T>(value: T, depth = 3): T {
    if (this.secrets.size === 0) return value;
    if (typeof value === 'string') return this.scrub(value) as T;
    if (depth === 0 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.scrubDeep(v, depth - 1)) as T;
    if (value instanceof Error) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.scrubDeep(v, depth - 1);
    return out as T;
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
