import type { Level } from 'pino';

export interface ClassifiedLine {
  level: Level;
  msg: string;
  /** Fields of a JSON line (an access log written as JSON), merged into the record. */
  fields?: Record<string, unknown>;
}

/**
 * Daemons say how bad a line is in their own words: apache `[ssl:warn]` / `[core:error]`,
 * postfix `warning:` / `fatal:` / `panic:`, dovecot `Error:` / `Fatal:` / `Warning:`, BIND
 * `general: error:`. Each word maps to a pino level, so `LOG_LEVEL=warn` keeps what matters.
 */
const WORDS: ReadonlyArray<[RegExp, Level]> = [
  [/\b(?:panic|fatal|emerg|alert|crit(?:ical)?)\b:?/i, 'fatal'],
  [/(?:\[[\w-]*:)?\berror\b[\]:]|\bError:/i, 'error'],
  [/(?:\[[\w-]*:)?\bwarn(?:ing)?\b[\]:]/i, 'warn'],
  [/(?:\[[\w-]*:)?\bnotice\b[\]:]|(?:\[[\w-]*:)?\binfo\b[\]:]/i, 'info'],
  [/(?:\[[\w-]*:)?\b(?:debug|trace\d?)\b[\]:]/i, 'debug'],
];

const RESERVED = ['time', 'pid', 'service', 'proc', 'stream', 'hostname'] as const;

/** Only the head of a line is searched: a URL in an access log saying "error" is not an error. */
const HEAD = 80;

export function classifyLine(line: string, stream: 'stdout' | 'stderr'): ClassifiedLine {
  if (line.startsWith('{') && line.endsWith('}')) {
    try {
      // apache's log_config escapes bytes as \xHH (and a vertical tab as \v), which JSON spells \u00HH.
      const json = line.replace(/\\(\\|x([0-9a-fA-F]{2})|v)/g, (all, e, hex) =>
        hex ? `\\u00${hex}` : e === 'v' ? '\\u000b' : all,
      );
      const fields = JSON.parse(json) as Record<string, unknown>;
      if (typeof fields === 'object' && fields !== null && !Array.isArray(fields)) {
        const { msg, message, level, ...rest } = fields;
        const text = typeof msg === 'string' ? msg : typeof message === 'string' ? message : accessSummary(rest);
        // The record's own keys stay the runtime's: a daemon's `time` becomes `daemon_time`.
        for (const key of RESERVED) {
          if (key in rest) {
            rest[`daemon_${key}`] = rest[key];
            delete rest[key];
          }
        }
        return { level: typeof level === 'string' ? wordLevel(level) : 'info', msg: text, fields: rest };
      }
    } catch {
      // Not JSON after all: a plain line.
    }
  }
  const head = line.slice(0, HEAD);
  for (const [pattern, level] of WORDS) if (pattern.test(head)) return { level, msg: line };
  return { level: stream === 'stderr' ? 'info' : 'info', msg: line };
}

function wordLevel(word: string): Level {
  const w = word.toLowerCase();
  if (['fatal', 'panic', 'emerg', 'alert', 'crit', 'critical'].includes(w)) return 'fatal';
  if (w.startsWith('err')) return 'error';
  if (w.startsWith('warn')) return 'warn';
  if (w === 'debug' || w.startsWith('trace')) return 'debug';
  return 'info';
}

/** An access-log record's one-line summary: `GET /path 200`. */
function accessSummary(fields: Record<string, unknown>): string {
  const { method, uri, status } = fields;
  return typeof method === 'string' && typeof uri === 'string' && status !== undefined
    ? `${method} ${uri} ${String(status)}`
    : '';
}
