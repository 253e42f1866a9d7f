import { dirname, join } from 'node:path';
import { requireReaper } from '@podserve/reaper';
import { CommandRunner } from '../command.js';
import { commonEnv, LOG_LEVELS } from '../config/common-env.js';
import {
  type ConfigProblem,
  type CrossProblem,
  type EnvResult,
  type EnvSpec,
  type EnvValues,
  formatProblems,
  loadEnv,
  redactedValues,
} from '../config/env.js';
import { oneOf } from '../config/env-types.js';
import {
  type ControlHandlers,
  type ControlServer,
  SocketTaken,
  startControlServer,
} from '../control/control-server.js';
import { LogBuffer } from '../control/log-buffer.js';
import { controlSocketPath } from '../control/protocol.js';
import { errorMessage } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { DryRunFileOps, type FileOps, octal, RealFileOps } from '../files/file-ops.js';
import { mkdirp } from '../files/mkdirp.js';
import type { Phase } from '../health/status.js';
import { StatusPublisher } from '../health/status-publisher.js';
import { createLogger, type LoggerHandle, serviceLevelVariable } from '../logging/logger.js';
import { Redactor } from '../logging/redactor.js';
import { exposedGc, MemoryRelease } from '../pid1/memory-release.js';
import { OrphanReaper, type ReaperCalls } from '../pid1/orphan-reaper.js';
import { consumeSignals, type HandledSignal } from '../pid1/signals.js';
import { settlesWithin } from '../supervisor/process-group.js';
import type { ProcessSpec } from '../supervisor/process-spec.js';
import type { ProcessStatus } from '../supervisor/supervised-process.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { type BaseService, type CommonSettings, type ServiceDefinition, stopBudgetMs } from './base-service.js';
import { controlHandlers } from './control-handlers.js';
import { EventQueue } from './event-queue.js';

export interface RunOptions {
  mode?: string;
  dryRun?: boolean;
  /** With dryRun: write the rendered files under this directory instead of printing them. */
  outputDir?: string;
  env?: NodeJS.ProcessEnv;
}

type RunnerEvent =
  | { type: 'signal'; signal: HandledSignal }
  /** A reload asked for over the control socket: handled like SIGHUP, then answered. */
  | { type: 'reload'; reply: (ok: boolean) => void }
  | { type: 'finished'; code: number }
  | { type: 'critical'; process: ProcessStatus }
  /** An exception nothing caught, or a rejection nothing handled: a bug, stopped in order. */
  | { type: 'fatal'; origin: string; error: unknown };

const STOP_SIGNALS: readonly HandledSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
const isAbort = (e: RunnerEvent) =>
  e.type === 'critical' || e.type === 'fatal' || (e.type === 'signal' && STOP_SIGNALS.includes(e.signal));
/** After the stop budget, how long the service's stop() may still take before everything is killed. */
const STOP_OVERRUN_MS = 500;

type Step = 'validate' | 'configure' | 'startProcesses';
const STEP_EXIT: Record<Step, number> = {
  validate: ExitCode.configure,
  configure: ExitCode.configure,
  startProcesses: ExitCode.start,
};
const STEP_PHASE: Record<Step, Phase> = {
  validate: 'validating',
  configure: 'configuring',
  startProcesses: 'starting',
};

/**
 * Runs one service to the end and returns the exit code; the caller exits with it.
 * Like tini's main loop: start, then wait for an event (signal, finished one-shot,
 * critical failure), act on it, and decide when to stop.
 */
export async function runService<S extends EnvSpec>(
  def: ServiceDefinition<S>,
  options: RunOptions = {},
): Promise<number> {
  const env = options.env ?? process.env;
  const mode = options.mode ?? def.modes[0];
  const dryRun = options.dryRun ?? false;

  // 1. Configuration: every problem collected before anything is touched.
  const common = loadEnv(commonEnv, env, 'development');
  const levelVar = serviceLevelVariable(def.name);
  const levelSpec = { [levelVar]: { ...oneOf(LOG_LEVELS), optional: true, description: '' } };
  const level = loadEnv(levelSpec, env, 'development');
  const environment = common.ok
    ? common.values.PODSERVE_ENV
    : env.PODSERVE_ENV === 'production'
      ? 'production'
      : 'development';
  const service = loadEnv(def.env, env, environment);
  const problems: ConfigProblem[] = [
    ...(common.ok ? [] : common.problems),
    ...(level.ok ? [] : level.problems),
    ...(service.ok ? [] : service.problems),
  ];
  problems.push(...crossProblems(def, service, problems));

  const redactor = new Redactor();
  for (const s of service.secrets) redactor.add(s);
  // The control socket's `logs` reads from here: the same records stdout gets, scrubbed.
  const logBuffer = !dryRun && def.control !== false ? new LogBuffer() : undefined;
  const handle = await createLogger({
    extraStream: logBuffer,
    service: def.name,
    level: common.ok ? (level.ok && level.values[levelVar]) || common.values.LOG_LEVEL : 'info',
    format: common.ok ? common.values.LOG_FORMAT : 'json',
    logDir: common.ok && !dryRun && problems.length === 0 ? common.values.LOG_DIR : null,
    logFile: common.ok
      ? { maxBytes: common.values.LOG_FILE_MAX_MB * 1024 * 1024, keep: common.values.LOG_FILE_KEEP }
      : undefined,
    stdoutFd: dryRun ? 2 : 1,
    redactor,
  });
  const log = handle.logger;
  if (!common.ok || !service.ok || problems.length > 0) {
    log.fatal({ problems, exitCode: ExitCode.config }, formatProblems(def.name, problems));
    await handle.drain();
    return ExitCode.config;
  }
  if (!def.modes.includes(mode as string)) {
    log.fatal(
      { mode, modes: def.modes },
      `unknown mode "${mode}" for ${def.name}; expected one of ${def.modes.join(', ')}`,
    );
    await handle.drain();
    return ExitCode.usage;
  }
  const settings: CommonSettings = {
    environment,
    logCommands: common.values.LOG_COMMANDS,
    logConfigs: common.values.LOG_CONFIGS,
    runDir: common.values.PODSERVE_RUN_DIR,
    logDir: common.values.LOG_DIR,
    stopBudgetMs: stopBudgetMs(common.values.STOP_GRACE_PERIOD),
  };
  log.info(
    { mode, dryRun, environment, pid: process.pid },
    `${def.name} starting (mode ${mode}${dryRun ? ', dry run' : ''})`,
  );
  log.debug({ config: redactedValues(def.env, service.values), sources: service.sources }, 'configuration loaded');

  // 2. The service and its tools.
  const commands = new CommandRunner(log, settings.logCommands, (text) => redactor.scrub(text));
  const supervisor = new Supervisor(log, commands);
  const files: FileOps = dryRun ? new DryRunFileOps() : new RealFileOps(log, settings.logConfigs);
  const abort = new AbortController();
  // The status publisher exists only in a live run, which then takes over `notify`.
  const healthChanges = { notify: () => {} };
  const instance = def.create({
    name: def.name,
    mode: mode as string,
    config: service.values,
    common: settings,
    logger: log,
    files,
    supervisor,
    commands,
    signal: abort.signal,
    dryRun,
    healthChanged: () => healthChanges.notify(),
    redact: (text) => redactor.scrub(text),
    addSecret: (secret) => redactor.add(secret),
  });

  const declared = def.processes?.(service.values, settings) ?? [];
  if (dryRun) return dryRunService(instance, files as DryRunFileOps, handle, options.outputDir, declared);
  // Reaping and spawning both go through the native addon: without it an init is broken, and
  // saying so before configure() touches anything beats failing at the first spawn.
  let reaperCalls: ReaperCalls;
  try {
    reaperCalls = requireReaper();
  } catch (err) {
    log.fatal(errorMessage(err));
    await handle.drain();
    return ExitCode.internal;
  }
  return liveRun({
    name: def.name,
    mode: mode as string,
    service: instance,
    supervisor,
    settings,
    handle,
    abort,
    reaperCalls,
    healthChanges,
    logBuffer,
    redactor,
  });
}

interface LiveRun {
  name: string;
  mode: string;
  service: BaseService<unknown>;
  supervisor: Supervisor;
  settings: CommonSettings;
  handle: LoggerHandle;
  abort: AbortController;
  reaperCalls: ReaperCalls;
  healthChanges: { notify: () => void };
  /** Present when the service has a control socket. */
  logBuffer: LogBuffer | undefined;
  redactor: Redactor;
}

async function liveRun(run: LiveRun): Promise<number> {
  const { name, service, supervisor, settings, handle, abort, reaperCalls, healthChanges } = run;
  const log = handle.logger;
  // The main loop waits on a promise, which holds no handle: a service whose work is all
  // timers and watchers that went quiet (a watch on a missing directory) would let Node
  // exit 0 mid-run, "ready" to the last. An init runs until it decides to stop.
  const keepAlive = setInterval(() => undefined, 2 ** 31 - 1);
  const events = new EventQueue<RunnerEvent>();
  // Once the stop has begun the main loop takes no more events: later signals go straight
  // to the service (a second SIGTERM must still reach a child that waits for it).
  let whileStopping: ((signal: HandledSignal) => void) | null = null;
  const detachSignals = consumeSignals((signal) => {
    log.debug({ signal }, `received ${signal}`);
    if (whileStopping) whileStopping(signal);
    else events.push({ type: 'signal', signal });
  });
  supervisor.on('critical', (process) => events.push({ type: 'critical', process }));
  // The last resort: a bug that throws or rejects where nobody catches it gets one fatal line
  // with its stack, then the ordered stop (exit 70), instead of Node's raw exit 1 that leaves
  // daemons to the container runtime's SIGKILL.
  let fatalSeen = false;
  const onFatal = (origin: string) => (error: unknown) => {
    log.fatal(
      { origin, err: errorMessage(error), stack: error instanceof Error ? error.stack : undefined },
      `${origin}: ${errorMessage(error)}${fatalSeen ? '' : `; stopping ${name} in order (exit ${ExitCode.internal})`}`,
    );
    if (fatalSeen) return;
    fatalSeen = true;
    events.push({ type: 'fatal', origin, error });
  };
  const onUncaught = onFatal('uncaught exception');
  const onUnhandled = onFatal('unhandled rejection');
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  void service.finished.then((code) => events.push({ type: 'finished', code }));

  const reaper = new OrphanReaper(reaperCalls, log);
  reaper.start();

  /** Set when another process holds the control socket: readiness stays false, saying why. */
  let controlProblem: string | undefined;
  const publisher = new StatusPublisher(
    settings.runDir,
    name,
    {
      liveness: () => service.liveness(),
      readiness: async () => (controlProblem ? { ok: false, reason: controlProblem } : service.readiness()),
      processes: () => supervisor.snapshot(),
    },
    log,
  );
  supervisor.on('change', () => void publisher.publish());
  healthChanges.notify = () => void publisher.publish();
  await publisher.start();
  const control = run.logBuffer
    ? await openControlSocket(
        controlSocketPath(settings.runDir, name),
        controlHandlers({
          name,
          mode: run.mode,
          service,
          supervisor,
          publisher,
          logs: run.logBuffer,
          reload: () => new Promise<boolean>((reply) => events.push({ type: 'reload', reply })),
          logger: log,
          redactor: run.redactor,
        }),
        log,
        (problem) => {
          controlProblem = problem;
        },
      )
    : null;

  let exitCode: number = ExitCode.ok;
  // Assigned in stopFor() too: typed so the compiler does not narrow it to null.
  let stopSignal = null as HandledSignal | null;
  let startedOk = true;
  let memoryRelease: MemoryRelease | undefined;
  /** A start step or a reload that a stop interrupted: the stop waits for it (bounded) first. */
  let unfinished: { what: string; work: Promise<unknown> } | null = null;
  const stopFor = (event: RunnerEvent) => {
    memoryRelease?.stop(); // no collection pauses the stop
    if (event.type === 'critical') {
      exitCode = ExitCode.criticalProcessFailed;
      log.error(
        { process: event.process.name, reason: event.process.reason, exitCode },
        `critical process ${event.process.name} failed; stopping ${name}`,
      );
    } else if (event.type === 'fatal') {
      exitCode = ExitCode.internal;
    } else if (event.type === 'signal') {
      stopSignal = event.signal;
    }
  };

  // 3. Startup steps; a stop signal or a critical failure cuts them short.
  for (const step of ['validate', 'configure', 'startProcesses'] as const) {
    await publisher.setPhase(STEP_PHASE[step]);
    const outcome = await runStep(name, step, service, events, log);
    if (outcome.kind === 'ok') continue;
    startedOk = false;
    if (outcome.kind === 'failed') exitCode = STEP_EXIT[step];
    else {
      stopFor(outcome.event);
      unfinished = { what: step, work: outcome.work };
    }
    break;
  }

  // 4. Main loop: wait for an event, act, decide.
  if (startedOk) {
    await publisher.setPhase('ready');
    log.info(`${name} ready`);
    memoryRelease = new MemoryRelease({
      releaseFreedMemory: () => reaperCalls.releaseFreedMemory(),
      gc: exposedGc(),
      logger: log,
    });
    memoryRelease.start();
    for (;;) {
      const event = await events.take().promise;
      if (event.type === 'finished') {
        exitCode = event.code;
        log.info({ exitCode }, `${name} finished`);
        break;
      }
      if (
        event.type === 'critical' ||
        event.type === 'fatal' ||
        (event.type === 'signal' && STOP_SIGNALS.includes(event.signal))
      ) {
        stopFor(event);
        break;
      }
      if (event.type === 'reload' || event.signal === 'SIGHUP') {
        const reply = event.type === 'reload' ? event.reply : () => undefined;
        log.info(event.type === 'reload' ? 'reload requested over the control socket' : 'SIGHUP: reloading');
        // A stop or a critical failure does not queue behind a slow reload: the stop begins
        // (the service's abort signal fires, so it can give up at a safe point) and waits,
        // within its budget, for the reload to end before it stops any process.
        const interrupt = events.take(isAbort);
        const reloading = service.reload().then(
          (ok) => ({ ok: ok === true }),
          (err: unknown) => {
            log.error({ err: errorMessage(err) }, 'reload threw');
            return { ok: false };
          },
        );
        const outcome = await Promise.race([reloading, interrupt.promise]);
        interrupt.cancel();
        reply('ok' in outcome && outcome.ok);
        if ('type' in outcome) {
          log.warn(`reload interrupted by ${outcome.type === 'signal' ? outcome.signal : outcome.type}`);
          stopFor(outcome);
          unfinished = { what: 'reload', work: reloading };
          break;
        }
        if (outcome.ok) log.info('reload complete');
        else log.error('reload failed; processes keep running with their previous configuration');
        void publisher.publish();
        continue;
      }
      service.onSignal(event.signal);
    }
  }

  // 5. Ordered graceful stop.
  whileStopping = (signal) => {
    log.info({ signal }, `${signal} received while stopping`);
    service.onSignalWhileStopping(signal);
  };
  for (const event of events.drain()) {
    if (event.type === 'signal') whileStopping(event.signal);
    else if (event.type === 'reload') event.reply(false); // no reload once the stop has begun
  }
  await publisher.setPhase('stopping');
  const stopStarted = Date.now();
  const budgetMs = settings.stopBudgetMs;
  const deadline = stopStarted + budgetMs;
  if (stopSignal) log.info({ signal: stopSignal, budgetMs }, `${stopSignal}: stopping ${name} within ${budgetMs} ms`);
  abort.abort();
  if (unfinished) {
    // Half the budget at most: the daemons' own stop needs the rest.
    const waitMs = Math.floor(budgetMs / 2);
    log.info({ waitMs }, `waiting up to ${waitMs} ms for the ${unfinished.what} in progress before stopping`);
    if (await settlesWithin(unfinished.work, waitMs)) log.debug(`the ${unfinished.what} in progress ended`);
    else log.warn(`the ${unfinished.what} did not end within ${waitMs} ms; stopping anyway`);
  }
  supervisor.setStopDeadline(deadline);
  const stopping = service.stop(stopSignal).catch((err: unknown) => {
    log.error({ err: errorMessage(err) }, 'stop threw; killing what is left');
    supervisor.killAll();
  });
  if (!(await settlesWithin(stopping, deadline - Date.now() + STOP_OVERRUN_MS))) {
    log.error(
      { budgetMs },
      `${name} did not stop within its ${budgetMs} ms budget (STOP_GRACE_PERIOD); killing every process group`,
    );
    supervisor.killAll();
  }
  if (stopSignal) exitCode = service.exitCodeAfterStop();
  log.info({ exitCode, stopMs: Date.now() - stopStarted }, `${name} stopped`);
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  detachSignals();
  memoryRelease?.stop();
  reaper.stop();
  await control?.close();
  await publisher.remove();
  clearInterval(keepAlive);
  await handle.drain();
  return exitCode;
}

/**
 * The service's rules across variables, run even when some variable failed on its own so
 * that one round of fixes is enough; a rule about a variable that already failed is dropped.
 */
function crossProblems<S extends EnvSpec>(
  def: ServiceDefinition<S>,
  service: EnvResult<S>,
  found: readonly ConfigProblem[],
): CrossProblem[] {
  if (!def.checkEnv) return [];
  const failed = new Set(found.flatMap((p) => ('variable' in p ? [p.variable.replace(/_FILE$/, '')] : [])));
  try {
    const values = (service.ok ? service.values : service.partial) as EnvValues<S>;
    return def.checkEnv(values).filter((p) => !p.variables.some((v) => failed.has(v)));
  } catch (err) {
    // With every variable parsed a throwing rule is a bug; with some missing it could not run.
    if (found.length === 0) throw err;
    return [];
  }
}

/**
 * A control socket that cannot be opened costs the service its remote control, not its life;
 * one that another process answers costs it its readiness too (`taken`), so that a probe or
 * an orchestrator sees two services claiming one socket instead of one silently losing.
 */
async function openControlSocket(
  path: string,
  handlers: ControlHandlers,
  log: LoggerHandle['logger'],
  taken: (problem: string) => void,
): Promise<ControlServer | null> {
  try {
    return await startControlServer(path, handlers, log);
  } catch (err) {
    if (err instanceof SocketTaken) {
      log.error({ path }, err.message);
      taken(err.message);
      return null;
    }
    log.warn({ path, err: errorMessage(err) }, `cannot open the control socket ${path}; running without one`);
    return null;
  }
}

type StepOutcome =
  | { kind: 'ok' }
  | { kind: 'failed' }
  /** `work`: the step itself, still running, which the stop waits for. */
  | { kind: 'interrupted'; event: RunnerEvent; work: Promise<unknown> };

async function runStep(
  name: string,
  step: Step,
  service: BaseService<unknown>,
  events: EventQueue<RunnerEvent>,
  log: LoggerHandle['logger'],
): Promise<StepOutcome> {
  const started = Date.now();
  log.debug({ step }, `${step}: started`);
  const interrupt = events.take(isAbort);
  // Settles either way: once interrupted, its outcome no longer matters, only its end.
  const work = service[step]();
  const ended = work.then(
    () => undefined,
    () => undefined,
  );
  try {
    const result = await Promise.race([
      work.then((value): StepOutcome | unknown => value),
      interrupt.promise.then((event): StepOutcome => ({ kind: 'interrupted', event, work: ended })),
    ]);
    if (isOutcome(result)) {
      log.warn({ step }, `${step} of ${name} interrupted`);
      return result;
    }
    if (result !== true) {
      log.error(
        { step, returned: String(result), exitCode: STEP_EXIT[step] },
        `${step} of ${name} failed: it returned ${String(result)} (expected true)`,
      );
      return { kind: 'failed' };
    }
    log.debug({ step, ms: Date.now() - started }, `${step}: done`);
    return { kind: 'ok' };
  } catch (err) {
    log.error(
      { step, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined, exitCode: STEP_EXIT[step] },
      `${step} of ${name} failed: ${errorMessage(err)}`,
    );
    return { kind: 'failed' };
  } finally {
    interrupt.cancel();
  }
}

/** One line for a declared process: what runs, and how it is stopped and reloaded. */
function describeProcess(p: ProcessSpec): string {
  const how = (a: ProcessSpec['stop']) =>
    a === undefined ? undefined : 'signal' in a ? a.signal : a.command.join(' ');
  const parts = [
    `restart ${p.restart ?? 'on-failure'}`,
    `stop ${how(p.stop) ?? p.stopSignal ?? 'SIGTERM'}`,
    `reload ${how(p.reload) ?? 'restart'}`,
    ...(p.user ? [`user ${p.user}`] : []),
  ];
  return `${p.name}: ${[p.command, ...(p.args ?? [])].join(' ')} (${parts.join(', ')})`;
}

function isOutcome(value: unknown): value is StepOutcome {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

async function dryRunService(
  service: BaseService<unknown>,
  files: DryRunFileOps,
  handle: LoggerHandle,
  outputDir: string | undefined,
  declared: readonly ProcessSpec[],
): Promise<number> {
  const log = handle.logger;
  for (const step of ['validate', 'configure'] as const) {
    let result: unknown;
    try {
      result = await service[step]();
    } catch (err) {
      log.error({ step, err: errorMessage(err) }, `${step} failed in dry run: ${errorMessage(err)}`);
      await handle.drain();
      return STEP_EXIT[step];
    }
    if (result !== true) {
      log.error(
        { step, returned: String(result) },
        `${step} failed in dry run: it returned ${String(result)} (expected true)`,
      );
      await handle.drain();
      return STEP_EXIT[step];
    }
  }
  if (outputDir) {
    for (const file of files.files) {
      const target = join(outputDir, file.path);
      await mkdirp(dirname(target));
      await writeFileAtomic(target, file.content, { mode: file.mode });
    }
    log.info(
      { outputDir, files: files.files.map((f) => f.path) },
      `dry run: ${files.files.length} file(s) written under ${outputDir}`,
    );
  } else {
    const out: string[] = [];
    for (const proc of declared) out.push(`# process ${describeProcess(proc)}\n`);
    for (const dir of files.dirs) out.push(`# directory ${dir.path} (mode ${octal(dir.mode)})\n`);
    for (const file of files.files) {
      const owner =
        file.uid !== undefined || file.gid !== undefined ? `, owner ${file.uid ?? '-'}:${file.gid ?? '-'}` : '';
      out.push(
        `# ---- ${file.path} (mode ${octal(file.mode)}${owner})\n${file.content}${file.content.endsWith('\n') ? '' : '\n'}`,
      );
    }
    process.stdout.write(out.join('\n'));
  }
  await handle.drain();
  return ExitCode.ok;
}
