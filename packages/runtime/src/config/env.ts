import { readFileSync } from 'node:fs';
import type * as v from 'valibot';
import { type EnvType, parseValue } from './env-types.js';

/** One environment variable, declared once: parsing, defaults, docs and redaction all come from here. */
export interface EnvVar<T = unknown> extends EnvType<T> {
  description: string;
  /** Applied in every environment when the variable is unset or empty. */
  default?: string;
  /** Applied only when PODSERVE_ENV=development; in production the variable is then required. */
  devDefault?: string;
  /** Optional variables parse to undefined when unset. */
  optional?: boolean;
  /** Never logged; documented as accepting NAME_FILE; at least MIN_SECRET_LENGTH characters. */
  secret?: boolean;
}

/**
 * Secrets shorter than this are refused: they protect nothing, and redacting a two-letter
 * value out of every log line would shred the logs, so a short secret could only be printed.
 */
export const MIN_SECRET_LENGTH = 8;

export type EnvSpec = Record<string, EnvVar<any>>;

export type EnvValues<S extends EnvSpec> = {
  [K in keyof S]: S[K] extends { optional: true }
    ? v.InferOutput<S[K]['schema']> | undefined
    : v.InferOutput<S[K]['schema']>;
};

export type Environment = 'development' | 'production';

export interface EnvProblem {
  variable: string;
  expected: string;
  /** What was found, already redacted for secrets; undefined when the variable was unset. */
  found: string | undefined;
}

/** A rule across variables (LE_EMAIL is required with CERT_ISSUER=acme): a sentence naming them. */
export interface CrossProblem {
  variables: readonly string[];
  message: string;
}

export type ConfigProblem = EnvProblem | CrossProblem;

export type ValueSource = 'env' | 'file' | 'default' | 'dev-default' | 'unset';

export type EnvResult<S extends EnvSpec> =
  | { ok: true; values: EnvValues<S>; sources: Record<keyof S, ValueSource>; secrets: string[] }
  | {
      ok: false;
      problems: EnvProblem[];
      /** What did parse (failed variables are absent), so cross-variable checks can still run. */
      partial: Partial<EnvValues<S>>;
      secrets: string[];
    };

export function defineEnv<const S extends EnvSpec>(spec: S): S {
  return spec;
}

/**
 * Parses every declared variable and reports every problem at once, so an operator
 * fixes the environment in one round instead of one restart per typo.
 * Reads nothing but the environment and `*_FILE` secrets, and writes nothing.
 */
export function loadEnv<S extends EnvSpec>(spec: S, env: NodeJS.ProcessEnv, environment: Environment): EnvResult<S> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  const problems: EnvProblem[] = [];
  const secrets: string[] = [];

  for (const [name, decl] of Object.entries(spec)) {
    const raw = readRaw(name, decl, env, environment);
    if ('problem' in raw) {
      problems.push(raw.problem);
      continue;
    }
    sources[name] = raw.source;
    if (raw.value === undefined) {
      if (decl.optional) {
        values[name] = undefined;
        continue;
      }
      problems.push({
        variable: name,
        found: undefined,
        expected:
          decl.devDefault !== undefined
            ? `a value (${decl.type}): required when PODSERVE_ENV=production; development would use "${decl.devDefault}"`
            : `a value (${decl.type}): it is required`,
      });
      continue;
    }
    if (decl.secret) {
      if (raw.value.length >= MIN_SECRET_LENGTH) secrets.push(raw.value);
      else {
        problems.push({
          variable: raw.source === 'file' ? `${name}_FILE` : name,
          expected: `a secret of at least ${MIN_SECRET_LENGTH} characters`,
          found: `${raw.value.length} character(s) [REDACTED]`,
        });
        continue;
      }
    }
    const parsed = parseValue(decl, raw.value);
    if (parsed.ok) {
      values[name] = parsed.value;
    } else {
      const message = parsed.message;
      problems.push({
        variable: raw.source === 'file' ? `${name}_FILE` : name,
        expected: message.replace(/^expected /i, ''),
        found: decl.secret ? '[REDACTED]' : JSON.stringify(raw.value),
      });
    }
  }
  if (problems.length > 0) return { ok: false, problems, partial: values as Partial<EnvValues<S>>, secrets };
  return { ok: true, values: values as EnvValues<S>, sources: sources as Record<keyof S, ValueSource>, secrets };
}

type Raw = { value: string | undefined; source: ValueSource } | { problem: EnvProblem };

function readRaw(name: string, decl: EnvVar, env: NodeJS.ProcessEnv, environment: Environment): Raw {
  // Set but empty is a mistake (a template with nothing filled in), not "use the default":
  // DOMAIN= must not quietly become podserve.test. Only optional variables read it as unset.
  for (const variable of [name, `${name}_FILE`]) {
    if (env[variable] === '' && !decl.optional) {
      return {
        problem: {
          variable,
          expected: `${variable === name ? `a value (${decl.type})` : `the path of a file holding ${name}`}, or the variable left unset${unsetMeans(decl, environment)}`,
          found: 'an empty value',
        },
      };
    }
  }
  const direct = nonEmpty(env[name]);
  const filePath = nonEmpty(env[`${name}_FILE`]);
  if (direct !== undefined && filePath !== undefined) {
    return {
      problem: {
        variable: name,
        expected: `either ${name} or ${name}_FILE, not both`,
        found: `both set (${name}_FILE=${JSON.stringify(filePath)})`,
      },
    };
  }
  if (filePath !== undefined) {
    try {
      // A trailing newline is how editors and `echo` leave secret files; it is never part of a secret.
      return { value: readFileSync(filePath, 'utf8').replace(/\r?\n$/, ''), source: 'file' };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return {
        problem: {
          variable: `${name}_FILE`,
          expected: 'a readable file',
          found: `${JSON.stringify(filePath)} (${code})`,
        },
      };
    }
  }
  if (direct !== undefined) return { value: direct, source: 'env' };
  if (decl.default !== undefined) return { value: decl.default, source: 'default' };
  if (decl.devDefault !== undefined && environment === 'development') {
    return { value: decl.devDefault, source: 'dev-default' };
  }
  return { value: undefined, source: 'unset' };
}

function unsetMeans(decl: EnvVar, environment: Environment): string {
  if (decl.default !== undefined) return ` (default "${decl.default}")`;
  if (decl.devDefault !== undefined && environment === 'development')
    return ` (development default "${decl.devDefault}")`;
  return '';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function formatProblems(service: string, problems: readonly ConfigProblem[]): string {
  const lines = problems.map((p) =>
    'message' in p
      ? `  - ${p.message}`
      : `  - ${p.variable}: expected ${p.expected}; found ${p.found === undefined ? 'nothing (unset)' : p.found}`,
  );
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return [
    `invalid configuration for ${service} (${count}); nothing was changed:`,
    ...lines,
    `run "node dist/main.js ${service} --help" for the configuration reference`,
  ].join('\n');
}

/** The values as they may appear in a log: secrets replaced. */
export function redactedValues(spec: EnvSpec, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    out[name] = spec[name]?.secret && value !== undefined ? '[REDACTED]' : value;
  }
  return out;
}
