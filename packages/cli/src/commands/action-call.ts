import type { ActionInfo } from '@podserve/runtime';
import { UsageError } from '@podserve/runtime/errors';

interface PropertySchema {
  type?: string | string[];
  writeOnly?: boolean;
}

/**
 * Which action a command line names: the longest run of its leading words that, joined with
 * "-", is an action the service lists (`users add alice@x` → `users-add`, then `alice@x`).
 * The rest are its arguments.
 */
export function resolveAction(
  words: readonly string[],
  catalog: readonly ActionInfo[],
): { action: ActionInfo; args: string[] } | undefined {
  const leading = words.findIndex((w) => w.includes('=') || w.startsWith('{'));
  const max = leading < 0 ? words.length : leading;
  for (let n = max; n >= 1; n--) {
    const name = words.slice(0, n).join('-');
    const action = catalog.find((a) => a.name === name);
    if (action) return { action, args: words.slice(n) };
  }
  return undefined;
}

/**
 * An action's input from its arguments, read against its listed schema: a single JSON object
 * as it is; otherwise `key=value` pairs, and bare words for the schema's fields in their order
 * (`users add alice@x` sets `address`). A value is a number or a boolean where the schema says
 * so; anything else stays text, and the service checks it. `secret` (from --password-stdin)
 * fills the one field the schema marks writeOnly.
 */
export function actionInput(action: ActionInfo, args: readonly string[], secret?: string): Record<string, unknown> {
  const properties = (action.input?.properties ?? {}) as Record<string, PropertySchema>;
  const input =
    args.length === 1 && args[0]?.startsWith('{') ? parseJson(args[0]) : fromWords(action, args, properties);
  if (secret !== undefined) {
    const secrets = Object.keys(properties).filter((key) => properties[key]?.writeOnly);
    if (secrets.length !== 1) {
      throw new UsageError(
        `ctl ${action.name}: --password-stdin needs an action with one secret input; it has ${secrets.length}`,
      );
    }
    input[secrets[0] as string] = secret;
  }
  return input;
}

function fromWords(action: ActionInfo, args: readonly string[], properties: Record<string, PropertySchema>) {
  const input: Record<string, unknown> = {};
  const bare: string[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq > 0) input[arg.slice(0, eq)] = typed(arg.slice(eq + 1), properties[arg.slice(0, eq)]);
    else bare.push(arg);
  }
  // Bare words fill the fields not named, in the schema's order; never a secret (it would
  // stay in the shell's history).
  const open = Object.keys(properties).filter((key) => !(key in input) && !properties[key]?.writeOnly);
  if (bare.length > open.length) {
    const takes = open.length > 0 ? `takes ${open.join(', ')} as bare words` : 'takes key=value arguments only';
    throw new UsageError(`ctl ${action.name}: ${takes}; found "${bare.slice(open.length).join(' ')}" too`);
  }
  bare.forEach((word, i) => {
    const key = open[i] as string;
    input[key] = typed(word, properties[key]);
  });
  return input;
}

function typed(value: string, schema: PropertySchema | undefined): unknown {
  const types = [schema?.type ?? []].flat();
  if (
    (types.includes('integer') || types.includes('number')) &&
    value.trim() !== '' &&
    Number.isFinite(Number(value))
  ) {
    return Number(value);
  }
  if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`ctl: the action input is not a JSON object: ${(err as Error).message}`);
  }
}

/** The listing `ctl actions` prints: an action a line, then its input fields. */
export function actionsText(actions: readonly ActionInfo[]): string {
  const out: string[] = [];
  for (const a of actions) {
    out.push(
      `${a.name.padEnd(16)} ${a.summary}${a.phases.includes('ready') ? '' : ` (when ${a.phases.join(' or ')})`}`,
    );
    const properties = (a.input?.properties ?? {}) as Record<string, PropertySchema>;
    const required = new Set((a.input?.required ?? []) as string[]);
    const fields = Object.entries(properties).map(([key, p]) => {
      const notes = [
        [p.type ?? 'any'].flat().join('|'),
        p.writeOnly ? 'secret: --password-stdin' : '',
        required.has(key) ? '' : 'optional',
      ];
      return `${key} (${notes.filter(Boolean).join(', ')})`;
    });
    if (fields.length > 0) out.push(`${''.padEnd(16)}   ${fields.join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}
