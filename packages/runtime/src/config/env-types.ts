import { z } from 'zod';

/**
 * Building blocks for declaring environment variables. Each returns the zod schema
 * that parses the raw string plus a short type label for the generated reference.
 * Error messages are phrased as "expected …" because the loader prints them next to
 * the value it found.
 */
export interface EnvType<T> {
  schema: z.ZodType<T, string>;
  type: string;
}

const HOSTNAME_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME_RE = new RegExp(`^(?=.{1,253}$)${HOSTNAME_LABEL}(?:\\.${HOSTNAME_LABEL})*$`);

export function text(options: { pattern?: RegExp; expected?: string } = {}): EnvType<string> {
  const base = z.string();
  return {
    schema: options.pattern
      ? base.regex(options.pattern, { error: `expected ${options.expected ?? `text matching ${options.pattern}`}` })
      : base,
    type: 'text',
  };
}

export function hostname(): EnvType<string> {
  return {
    schema: z
      .string()
      .transform((s) => s.toLowerCase().replace(/\.$/, ''))
      .pipe(
        z
          .string()
          .regex(HOSTNAME_RE, { error: 'expected a DNS name such as example.com (letters, digits, hyphens, dots)' }),
      ),
    type: 'DNS name',
  };
}

/** Comma- or space-separated DNS names; `*.` wildcards allowed when asked for. */
export function hostnameList(options: { wildcards?: boolean } = {}): EnvType<string[]> {
  const item = options.wildcards ? /^(\*\.)?/ : /^/;
  const re = new RegExp(item.source + HOSTNAME_RE.source.slice(1));
  return {
    schema: z
      .string()
      .transform((s) =>
        s
          .split(/[\s,]+/)
          .map((n) => n.toLowerCase().replace(/\.$/, ''))
          .filter((n) => n !== ''),
      )
      .pipe(
        z.array(
          z.string().regex(re, {
            error: (issue) =>
              `expected comma-separated DNS names${options.wildcards ? ' (a leading *. is allowed)' : ''}; "${String(issue.input)}" is not one`,
          }),
        ),
      ),
    type: 'DNS names',
  };
}

export function integer(options: { min?: number; max?: number } = {}): EnvType<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const expected = `expected an integer${rangeText(options)}`;
  return {
    schema: z
      .string()
      .regex(/^-?\d+$/, { error: expected })
      .transform(Number)
      .pipe(z.number().int().min(min, { error: expected }).max(max, { error: expected })),
    type: `integer${rangeText(options)}`,
  };
}

function rangeText(o: { min?: number; max?: number }): string {
  if (o.min !== undefined && o.max !== undefined) return ` from ${o.min} to ${o.max}`;
  if (o.min !== undefined) return ` ≥ ${o.min}`;
  if (o.max !== undefined) return ` ≤ ${o.max}`;
  return '';
}

export function port(): EnvType<number> {
  return { ...integer({ min: 1, max: 65535 }), type: 'port' };
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];
export function boolean(): EnvType<boolean> {
  return {
    schema: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.enum([...TRUE, ...FALSE] as [string, ...string[]], { error: 'expected true or false' }))
      .transform((s) => TRUE.includes(s)),
    type: 'boolean',
  };
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T): EnvType<T[number]> {
  return {
    schema: z.enum(values, { error: `expected one of ${values.join(', ')}` }) as unknown as z.ZodType<
      T[number],
      string
    >,
    type: values.join(' \\| '),
  };
}

export function email(): EnvType<string> {
  return { schema: z.email({ error: 'expected an e-mail address such as admin@example.com' }), type: 'e-mail' };
}

export function url(options: { protocols?: readonly string[] } = {}): EnvType<string> {
  const protocols = options.protocols ?? ['https'];
  const expected = `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`;
  return {
    schema: z.url({ protocol: new RegExp(`^(${protocols.join('|')})$`), error: expected }),
    type: 'URL',
  };
}

export function absolutePath(): EnvType<string> {
  return {
    schema: z.string().regex(/^\//, { error: 'expected an absolute path starting with /' }),
    type: 'path',
  };
}

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "90s", "15m", "12h", "30d" → milliseconds. */
export function duration(): EnvType<number> {
  return {
    schema: z
      .string()
      .regex(/^\d+(s|m|h|d)$/, { error: 'expected a duration such as 90s, 15m, 12h or 30d' })
      .transform((s) => Number(s.slice(0, -1)) * (DURATION_UNITS[s.slice(-1)] ?? 0)),
    type: 'duration',
  };
}
