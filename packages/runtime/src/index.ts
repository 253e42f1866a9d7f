export { type CommandOptions, type CommandResult, CommandRunner } from './command.js';
export { commonEnv, LOG_LEVELS } from './config/common-env.js';
export {
  type ConfigProblem,
  type CrossProblem,
  defineEnv,
  type EnvProblem,
  type EnvSpec,
  type EnvValues,
  type EnvVar,
  formatProblems,
  loadEnv,
  MIN_SECRET_LENGTH,
} from './config/env.js';
export { envMarkdown, envText } from './config/env-docs.js';
export * as envTypes from './config/env-types.js';
export { BadRequest, Conflict, NotFound, RequestFailed, Unavailable } from './control/control-server.js';
export type { ActionInfo, StatusResponse } from './control/protocol.js';
export { CommandError, errorMessage, PodServeError, UsageError } from './errors.js';
export { ExitCode, exitCodeOf, exitCodeTable } from './exit-codes.js';
export { type AtomicWriteOptions, fsyncDirectory, writeFileAtomic } from './files/atomic-write.js';
export {
  type CheckResult,
  type CommitOutcome,
  type ConfigFile,
  ConfigSet,
  type ConfigSetHooks,
  ConfigTransaction,
  type TransactionOutcome,
} from './files/config-set.js';
export { errCode, errnoHint } from './files/errno-hints.js';
export { FileLock, LockBusyError } from './files/file-lock.js';
export { DryRunFileOps, type FileOps, octal, RealFileOps, type WriteOptions } from './files/file-ops.js';
export { readOptional, replaceSymlink } from './files/links.js';
export { conf, dedent } from './files/template.js';
export { resolveGid, resolveUid } from './files/users.js';
export { type ProbeKind, type ProbeOutcome, probe } from './health/probe.js';
export { LineReader, type StartTlsProtocol, smtpReply } from './health/starttls.js';
export type { HealthResult, Phase, ServiceStatus } from './health/status.js';
export { type TlsProbeOptions, type TlsProbeResult, tlsProbe } from './health/tls-probe.js';
export { createLogger, type Logger, type LoggerHandle } from './logging/logger.js';
export { Redactor } from './logging/redactor.js';
export { OrphanReaper, type ReaperCalls, zombieChildren } from './pid1/orphan-reaper.js';
export { consumeSignals, type HandledSignal, installSignalCapture } from './pid1/signals.js';
export { type Child, type ExitStatus, type SpawnOptions, spawnChild } from './process/spawn.js';
export {
  BaseService,
  type CommonSettings,
  defineService,
  type ServiceAction,
  type ServiceContext,
  type ServiceDefinition,
} from './service/base-service.js';
export { EXEC_SPAWN_FAILED, type ExecOptions, execDefinition, execEnv } from './service/exec-service.js';
export { type RunOptions, runService } from './service/runner.js';
export { backoffDelay } from './supervisor/backoff.js';
export type { ProcessSpec, ReadinessCheck, RestartPolicy, SignalAction } from './supervisor/process-spec.js';
export { type ProcessState, type ProcessStatus, SupervisedProcess } from './supervisor/supervised-process.js';
export { Supervisor } from './supervisor/supervisor.js';
