import type * as v from 'valibot';
import type { CommandRunner } from '../command.js';
import type { CrossProblem, EnvSpec, EnvValues } from '../config/env.js';
import type { FileOps } from '../files/file-ops.js';
import type { HealthResult, Phase } from '../health/status.js';
import type { Logger } from '../logging/logger.js';
import type { HandledSignal } from '../pid1/signals.js';
import type { ProcessSpec } from '../supervisor/process-spec.js';
import type { Supervisor } from '../supervisor/supervisor.js';

export interface CommonSettings {
  environment: 'development' | 'production';
  logCommands: boolean;
  logConfigs: boolean;
  runDir: string;
  logDir: string;
  /**
   * How long the whole stop may take (STOP_GRACE_PERIOD less the runtime's own reserve): a
   * daemon's graceful-stop timeout is derived from it, so it fits in the container's grace.
   */
  stopBudgetMs: number;
}

/** What the runtime keeps of the grace period for itself: draining logs, exiting, slow reaping. */
export const STOP_RESERVE_MS = 1_500;

/** The stop budget for a grace period in seconds. */
export function stopBudgetMs(gracePeriodSeconds: number): number {
  return Math.max(1_000, gracePeriodSeconds * 1_000 - STOP_RESERVE_MS);
}

/** What the runner hands a service: its validated config and the runtime's tools. */
export interface ServiceContext<C> {
  name: string;
  mode: string;
  config: C;
  common: CommonSettings;
  logger: Logger;
  /** Every file configure() writes goes through here, so --dry-run can show it. */
  files: FileOps;
  supervisor: Supervisor;
  commands: CommandRunner;
  /** Aborted when the service is asked to stop: pass it to long network calls. */
  signal: AbortSignal;
  dryRun: boolean;
  /**
   * Call when liveness or readiness may have changed for a reason the supervisor cannot see
   * (a certificate published, an alarm raised): probes see it at once rather than at the
   * next periodic re-check. Process state changes are published without it.
   */
  healthChanged(): void;
  /** Replaces every configured secret in `text`: for anything persisted or shown beyond the log. */
  redact(text: string): string;
  /**
   * A secret the service made or read itself (a generated TSIG key): from now on scrubbed from
   * the log, command output and `redact`, like the configured secrets.
   */
  addSecret(secret: string): void;
}

/**
 * A PodServe service. The runner drives it: validate → configure → startProcesses →
 * ready → (reload on SIGHUP) → stop. Each step resolves to `true` or the service
 * fails with the step's exit code: an overriding method without a return is a
 * compile error (Promise<void> is not Promise<boolean>; noImplicitReturns catches
 * a missed branch), and the runner also refuses anything but `true` at run time.
 */
export abstract class BaseService<C = unknown> {
  private resolveFinished: (code: number) => void = () => undefined;
  /** Resolves when a one-shot service is done; the value is the exit code. */
  readonly finished: Promise<number> = new Promise((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(protected readonly ctx: ServiceContext<C>) {}

  protected get config(): C {
    return this.ctx.config;
  }

  protected get log(): Logger {
    return this.ctx.logger;
  }

  /** Checks a schema cannot express (e.g. across variables). Must not touch any file. */
  async validate(): Promise<boolean> {
    return true;
  }

  /** Renders configs and prepares directories and permissions, through `ctx.files`. */
  abstract configure(): Promise<boolean>;

  /** Starts the supervised processes; true once they are ready. */
  abstract startProcesses(): Promise<boolean>;

  async liveness(): Promise<HealthResult> {
    return this.ctx.supervisor.liveness();
  }

  async readiness(): Promise<HealthResult> {
    return this.ctx.supervisor.readiness();
  }

  /** Why the last reload was refused (a checker's `file:line: message`), for `ctl reload`'s answer. */
  reloadProblem(): string | undefined {
    return undefined;
  }

  /** SIGHUP. The default reloads every process with its declared reload method. */
  async reload(): Promise<boolean> {
    return this.ctx.supervisor.reloadAll();
  }

  /** Ordered graceful stop. `signal` is what asked for it, when a signal did. */
  async stop(_signal: HandledSignal | null): Promise<void> {
    await this.ctx.supervisor.stopAll();
  }

  /** Signals other than stop and reload (SIGUSR1, SIGUSR2, SIGWINCH). Ignored by default. */
  onSignal(signal: HandledSignal): void {
    this.log.debug({ signal }, `${signal} ignored`);
  }

  /**
   * A signal that arrives once the stop has begun. The default passes a stop signal on to
   * every process still running (an operator's second SIGTERM or ^C reaches the daemons)
   * and ignores the others: a reload in the middle of a stop helps nobody.
   */
  onSignalWhileStopping(signal: HandledSignal): void {
    if (signal === 'SIGTERM' || signal === 'SIGINT' || signal === 'SIGQUIT') this.ctx.supervisor.signalAll(signal);
  }

  /**
   * Operations this service offers on its control socket (`ctl ACTION`, later the pod's API):
   * certificates' `renew`, mail's users, DNS's records. Input is the request's JSON object.
   */
  actions(): Record<string, ServiceAction> {
    return {};
  }

  /** What `ctl status` shows besides processes and health (e.g. the certificate generation served). */
  statusDetails(): Record<string, unknown> {
    return {};
  }

  /** The exit code after a requested stop. 0 by default: a stop on request is a success. */
  exitCodeAfterStop(): number {
    return 0;
  }

  /** Ends a one-shot service (e.g. `certificates --mode init`) with this exit code. */
  protected finish(code: number): void {
    this.resolveFinished(code);
  }
}

/**
 * Something a caller may ask a running service to do over its control socket (`ctl NAME
 * key=value…`). The runtime runs a service's actions one at a time, only in the phases listed,
 * and only with an input its schema accepts: a caller's mistake is answered 400 with every
 * problem before `run` sees it.
 */
export interface ServiceAction<I = Record<string, unknown>> {
  summary: string;
  /** The input's schema (valibot). Without one, any JSON object is passed through. */
  input?: v.GenericSchema<unknown, I>;
  /** What it answers, as a schema: listed by `GET /v1/actions` for the API's clients. */
  output?: v.GenericSchema;
  /** Input fields whose values never appear in an error or a log line (a password). */
  secrets?: readonly string[];
  /** The phases it may run in; by default only once the service is ready. */
  phases?: readonly Phase[];
  /** It changes nothing (a listing, a record to publish): the pod's API lets a `read` token call it. */
  readOnly?: boolean;
  run(input: I): Promise<unknown>;
}

export interface ServiceDefinition<S extends EnvSpec = EnvSpec> {
  name: string;
  summary: string;
  /** The first mode is the default. */
  modes: readonly [string, ...string[]];
  modeHelp?: Readonly<Record<string, string>>;
  env: S;
  /**
   * The processes the service will supervise, as data derived from its configuration: the
   * dry run prints them and the control socket lists them before they start. The service
   * adds the same specs to its supervisor.
   */
  processes?(config: EnvValues<S>, common: CommonSettings): ProcessSpec[];
  /**
   * Whether the running service opens its control socket (default true). `exec` does not:
   * node:http would cost it more memory than an init for one command may use.
   */
  control?: boolean;
  /**
   * Rules across variables, reported with the per-variable problems in one message (exit 78).
   * Reads nothing but the values (and files they name); must not throw on values it needs
   * being absent: after a per-variable problem it gets what did parse, and its findings about
   * a variable that already failed are dropped.
   */
  checkEnv?(values: EnvValues<S>): CrossProblem[];
  create(ctx: ServiceContext<EnvValues<S>>): BaseService<EnvValues<S>>;
}

export function defineService<const S extends EnvSpec>(definition: ServiceDefinition<S>): ServiceDefinition<S> {
  return definition;
}
