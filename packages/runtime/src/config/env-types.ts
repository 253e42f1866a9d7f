import * as v from 'valibot';

/**
 * Building blocks for declaring environment variables, on valibot (chosen over zod
 * because it tree-shakes: the runtime must stay within 10 % of a bare Node's memory).
 * Each returns the schema that parses the raw string plus a type label for the
 * generated reference. Messages are phrased as "expected …" because the loader
 * prints them next to the value it found.
 */
export interface EnvType<T> {
  schema: v.GenericSchema<string, T>;
  type: string;
}

const HOSTNAME_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
/** RFC 1035: a name has at most 253 characters in text form, a label at most 63. */
const MAX_NAME = 253;
const MAX_LABEL = 63;

const normaliseName = (s: string) => s.trim().toLowerCase().replace(/\.$/, '');

/**
 * Why `name` is not a DNS name, or undefined when it is one. The limits are named with the
 * offending part, so "expected a DNS name" never leaves the operator guessing which rule broke.
 */
export function hostnameProblem(name: string, options: { wildcards?: boolean } = {}): string | undefined {
  const base = options.wildcards && name.startsWith('*.') ? name.slice(2) : name;
  if (base === '') return 'is empty';
  if (name.length > MAX_NAME) return `has ${name.length} characters (at most ${MAX_NAME})`;
  for (const label of base.split('.')) {
    if (label.length > MAX_LABEL) {
      return `has a label of ${label.length} characters, "${label.slice(0, 12)}…" (at most ${MAX_LABEL} between dots)`;
    }
    if (!HOSTNAME_LABEL_RE.test(label)) {
      return label === ''
        ? 'has an empty label (two dots in a row, or a leading dot)'
        : `has the label "${label}" (letters, digits and inner hyphens only${options.wildcards ? '; *. only in front' : ''})`;
    }
  }
  return undefined;
}

export function text(options: { pattern?: RegExp; expected?: string } = {}): EnvType<string> {
  const expected = `expected ${options.expected ?? `text matching ${options.pattern}`}`;
  return {
    schema: options.pattern ? v.pipe(v.string(), v.regex(options.pattern, expected)) : v.string(),
    type: 'text',
  };
}

export function hostname(): EnvType<string> {
  return {
    schema: v.pipe(
      v.string(),
      v.transform(normaliseName),
      v.check(
        (name) => hostnameProblem(name) === undefined,
        (issue) =>
          `expected a DNS name such as example.com (letters, digits, hyphens, dots; at most ${MAX_NAME} characters, ${MAX_LABEL} per label): it ${hostnameProblem(issue.input as string)}`,
      ),
    ),
    type: 'DNS name',
  };
}

/** Comma- or space-separated DNS names; `*.` wildcards allowed when asked for. */
export function hostnameList(options: { wildcards?: boolean } = {}): EnvType<string[]> {
  const problem = (n: string) => hostnameProblem(n, options);
  const what = `comma-separated DNS names${options.wildcards ? ' (a leading *. is allowed)' : ''}`;
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) =>
        s
          .split(/[\s,]+/)
          .map(normaliseName)
          .filter((n) => n !== ''),
      ),
      v.check(
        (names) => names.every((n) => problem(n) === undefined),
        (issue) => {
          const bad = (issue.input as string[]).find((n) => problem(n) !== undefined) ?? '';
          return `expected ${what}; "${bad}" ${problem(bad)}`;
        },
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
    schema: v.pipe(
      v.string(),
      v.regex(/^-?\d+$/, expected),
      v.transform(Number),
      v.minValue(min, expected),
      v.maxValue(max, expected),
    ),
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
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.trim().toLowerCase()),
      v.picklist([...TRUE, ...FALSE], 'expected true or false'),
      v.transform((s) => TRUE.includes(s)),
    ),
    type: 'boolean',
  };
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T): EnvType<T[number]> {
  return {
    schema: v.picklist(values, `expected one of ${values.join(', ')}`) as unknown as v.GenericSchema<string, T[number]>,
    type: values.join(' \\| '),
  };
}

export function email(): EnvType<string> {
  return {
    schema: v.pipe(v.string(), v.email('expected an e-mail address such as admin@example.com')),
    type: 'e-mail',
  };
}

export function url(options: { protocols?: readonly string[] } = {}): EnvType<string> {
  const protocols = options.protocols ?? ['https'];
  const expected = `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`;
  return {
    schema: v.pipe(
      v.string(),
      v.url(expected),
      v.check((s) => protocols.includes(s.slice(0, s.indexOf(':'))), expected),
    ),
    type: 'URL',
  };
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 (padded, as BIND's tsig-keygen writes it) decoding to at least `minBytes`. */
export function base64(options: { minBytes: number; what: string }): EnvType<string> {
  const expected = `expected ${options.what}: base64 (A–Z, a–z, 0–9, +, /, padded with = to a multiple of 4) of at least ${options.minBytes} bytes`;
  return {
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.trim()),
      v.check((s) => BASE64_RE.test(s) && Buffer.from(s, 'base64').byteLength >= options.minBytes, expected),
    ),
    type: 'base64',
  };
}

export function absolutePath(): EnvType<string> {
  return {
    schema: v.pipe(
      v.string(),
      v.regex(/^\//, 'expected an absolute path starting with /'),
      // Paths end up in daemons' configs: quotes, spaces and control characters would break out.
      v.check(
        (path) =>
          !/[\s"'\\`$]/.test(path) && ![...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
        'expected an absolute path without spaces, quotes, backslashes or control characters',
      ),
    ),
    type: 'path',
  };
}

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "90s", "15m", "12h", "30d" → milliseconds. */
export function duration(): EnvType<number> {
  return {
    schema: v.pipe(
      v.string(),
      v.regex(/^\d+(s|m|h|d)$/, 'expected a duration such as 90s, 15m, 12h or 30d'),
      v.transform((s) => Number(s.slice(0, -1)) * (DURATION_UNITS[s.slice(-1)] ?? 0)),
    ),
    type: 'duration',
  };
}

/** Parses one raw value: the output, or the first problem's message. */
export function parseValue<T>(type: EnvType<T>, raw: string): { ok: true; value: T } | { ok: false; message: string } {
  const result = v.safeParse(type.schema, raw);
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, message: result.issues[0]?.message ?? `expected ${type.type}` };
}
