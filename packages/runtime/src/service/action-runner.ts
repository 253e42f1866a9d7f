import * as v from 'valibot';
import { BadRequest, NotFound, Unavailable } from '../control/control-server.js';
import type { Phase } from '../health/status.js';
import type { Logger } from '../logging/logger.js';
import type { Redactor } from '../logging/redactor.js';
import { DEFAULT_ACTION_PHASES } from './action-catalog.js';
import type { ServiceAction } from './base-service.js';

/**
 * Runs a service's actions for the control socket: looks the action up (own names only),
 * refuses it outside its phases (503), validates its input against its schema (400, every
 * problem at once, before anything runs) and runs it one at a time per service, so two
 * requests never interleave their changes (two record additions, a renewal and a listing).
 */
export class ActionRunner {
  /** The tail of the queue: each run starts once the one before it has settled. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly service: string,
    private readonly offered: () => Record<string, ServiceAction>,
    private readonly phase: () => Phase,
    private readonly logger: Logger,
    /** Scrubs an action's secret input from every log line and error while it runs. */
    private readonly redactor?: Pick<Redactor, 'add' | 'remove'>,
  ) {}

  names(): string[] {
    return Object.keys(this.offered());
  }

  async run(name: string, input: Record<string, unknown>): Promise<unknown> {
    const offered = this.offered();
    // Own properties only: "constructor" or "__proto__" is no action.
    const action = Object.hasOwn(offered, name) ? offered[name] : undefined;
    if (typeof action?.run !== 'function') {
      throw new NotFound(`no action "${name}"; ${this.service} offers: ${this.names().join(', ') || 'none'}`);
    }
    const phases = action.phases ?? DEFAULT_ACTION_PHASES;
    const refuseOutsidePhases = () => {
      const phase = this.phase();
      if (!phases.includes(phase)) {
        throw new Unavailable(`${this.service} is ${phase}: "${name}" runs once it is ${phases.join(' or ')}`);
      }
    };
    refuseOutsidePhases();
    const parsed = action.input ? v.safeParse(action.input, input) : { success: true as const, output: input };
    if (!parsed.success) throw new BadRequest(`${name}: ${describeIssues(parsed.issues, action.secrets ?? [])}`);

    // From now until it settles: a daemon's complaint or a command line that quotes the
    // password is logged with it scrubbed.
    const held = secretValues(parsed.output, action.secrets ?? []);
    for (const secret of held) this.redactor?.add(secret);
    const run = this.tail
      .then(() => {
        // Again when its turn comes: a stop may have begun while it waited.
        refuseOutsidePhases();
        this.logger.debug({ action: name }, `action ${name}: running`);
        return action.run(parsed.output);
      })
      .catch((err: unknown) => {
        throw scrubbedError(err, held);
      })
      .finally(() => {
        for (const secret of held) this.redactor?.remove(secret);
      });
    // The next action waits for this one however it ends; its own caller sees its error.
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** The values of an input's secret fields (top-level strings). */
function secretValues(input: unknown, secrets: readonly string[]): string[] {
  if (input === null || typeof input !== 'object') return [];
  return secrets
    .map((key) => (input as Record<string, unknown>)[key])
    .filter((value): value is string => typeof value === 'string' && value !== '');
}

/**
 * The error an action failed with goes back to the caller as its message: one that quotes a
 * secret of the input (a checker echoing its argument) is answered with the secret cut out.
 */
function scrubbedError(err: unknown, secrets: readonly string[]): unknown {
  if (!(err instanceof Error) || !secrets.some((s) => err.message.includes(s))) return err;
  let message = err.message;
  for (const secret of secrets) message = message.split(secret).join('[REDACTED]');
  err.message = message;
  if (err.stack) for (const secret of secrets) err.stack = err.stack.split(secret).join('[REDACTED]');
  return err;
}

/**
 * Every problem valibot found, each with the field it is about, what was expected and what was
 * found ("ttl: expected a whole number of seconds, found \"soon\""); for a field named in
 * `secrets`, never what was found.
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], secrets: readonly string[]): string {
  return issues
    .map((issue) => {
      const keys = issue.path?.map((item) => String(item.key)) ?? [];
      const secret = keys.some((key) => secrets.includes(key));
      // valibot's own messages start "Invalid …" and quote what was received; a schema's own
      // message is written by us and says what it means.
      const own = !issue.message.startsWith('Invalid ');
      if (own) return keys.length > 0 ? `${keys.join('.')}: ${issue.message}` : issue.message;
      if (issue.expected === 'never') return `${keys.join('.')}: not an input of this action`;
      if (issue.received === 'undefined') return `${keys.join('.')}: missing`;
      const type = issue.type.replaceAll('_', ' ');
      const expected =
        issue.expected === null
          ? `expected ${type}`
          : `expected ${issue.kind === 'validation' ? `${type} ` : ''}${issue.expected}`;
      const what = secret ? expected : `${expected}, found ${issue.received}`;
      return keys.length > 0 ? `${keys.join('.')}: ${what}` : what;
    })
    .join('; ');
}
