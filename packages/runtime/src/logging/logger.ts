import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import pino, { type DestinationStream, type Level, type Logger, type StreamEntry } from 'pino';
import { errorMessage } from '../errors.js';
import { mkdirpSync } from '../files/mkdirp.js';
import { isoTime } from './iso-time.js';
import { LogBatcher } from './log-batcher.js';
import { REDACTED_PATHS, Redactor } from './redactor.js';
import { type FileSinkEvents, RotatingFile } from './rotating-file.js';
import { StdoutWriter } from './stdout-writer.js';

const MiB = 1024 * 1024;

export type { Logger } from 'pino';
export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  service: string;
  level: LogLevel;
  format: 'json' | 'pretty';
  /** Base log directory; the file is `<dir>/<service>/<service>.log`. null: stdout only. */
  logDir: string | null;
  /** Rotation of the log file: at this size, keeping this many old files. */
  logFile?: { maxBytes: number; keep: number; retryMs?: number };
  /** Where "stdout" records go; the real fd 1 unless a test or dry-run says otherwise. */
  stdoutFd?: number;
  /** Another destination for every record (the control socket's log buffer, a test's memory). */
  extraStream?: Writable | { write(line: string): unknown };
  redactor?: Redactor;
}

export interface LoggerHandle {
  logger: Logger;
  redactor: Redactor;
  /** Path of the log file, or null when logging to stdout only. */
  logFile: string | null;
  /** Waits (briefly) until stdout has taken every record, then flushes the file: call before process.exit. */
  drain(): Promise<void>;
  /** Flushes what can be flushed synchronously: for a crash, when nothing can be awaited. */
  flush(): void;
}

/**
 * pino to stdout always, plus a file under the service's log dir when that dir is
 * writable. Records of a 10 ms window are written together (LogBatcher),
 * and every exit path flushes first: PID 1 exits with process.exit, and a log line still in a
 * buffer then would be lost exactly when it matters most.
 */
export async function createLogger(options: LoggerOptions): Promise<LoggerHandle> {
  const redactor = options.redactor ?? new Redactor();
  const level = options.level === 'silent' ? 'silent' : options.level;
  const streams: StreamEntry[] = [];
  const flushers: Array<() => void> = [];

  const stdout = new StdoutWriter(options.stdoutFd ?? 1);
  flushers.push(() => stdout.flushSync());
  if (options.format === 'pretty') {
    const { default: pretty } = await import('pino-pretty');
    streams.push({
      level: 'trace',
      stream: pretty({ destination: stdout as unknown as DestinationStream, sync: true, colorize: true }),
    });
  } else {
    const batched = new LogBatcher((batch) => stdout.write(batch));
    flushers.unshift(() => batched.flushSync());
    streams.push({ level: 'trace', stream: batched as unknown as DestinationStream });
  }

  let logFile: string | null = null;
  let fileWarning: string | null = null;
  // The file reports its failures after the record that hit them: the logger exists by then.
  let fileEvents: FileSinkEvents = { suspended: () => undefined, resumed: () => undefined };
  if (options.logDir !== null) {
    const dir = join(options.logDir, options.service);
    const candidate = join(dir, `${options.service}.log`);
    try {
      mkdirpSync(dir);
      accessSync(dir, constants.W_OK);
      const file = new RotatingFile(
        candidate,
        options.logFile?.maxBytes ?? 10 * MiB,
        options.logFile?.keep ?? 3,
        { suspended: (...a) => fileEvents.suspended(...a), resumed: (...a) => fileEvents.resumed(...a) },
        options.logFile?.retryMs,
      );
      const batched = new LogBatcher((batch) => file.write(batch));
      flushers.push(
        () => batched.flushSync(),
        () => file.flushSync(),
      );
      streams.push({ level: 'trace', stream: batched as unknown as DestinationStream });
      logFile = candidate;
    } catch (err) {
      fileWarning = `log file ${candidate} is not writable (${errorMessage(err)}); logging to stdout only`;
    }
  }
  if (options.extraStream) streams.push({ level: 'trace', stream: options.extraStream as DestinationStream });

  const logger = pino(
    {
      level,
      base: { service: options.service },
      timestamp: () => `,"time":"${isoTime()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => redactor.scrubDeep(a)) as Parameters<typeof method>;
          method.apply(this, scrubbed);
        },
      },
    },
    pino.multistream(streams),
  );
  fileEvents = {
    suspended: (path, err, retryMs) =>
      logger.warn(
        { logFile: path, err: err.code ?? err.message },
        `cannot write the log file ${path} (${err.code ?? err.message}); logging to stdout only, trying the file again every ${retryMs / 1000} s`,
      ),
    resumed: (path, lost) =>
      logger.info(
        { logFile: path, lost },
        `the log file ${path} is writable again; ${lost} record(s) went to stdout only meanwhile`,
      ),
  };
  if (fileWarning) logger.warn(fileWarning);
  else if (logFile) logger.debug({ logFile }, 'logging to stdout and file');

  const flush = () => {
    for (const flushOne of flushers) {
      try {
        flushOne();
      } catch {
        // A destination that cannot flush (closed pipe) must not stop the others or the exit.
      }
    }
  };
  // However the process ends (an uncaught error included), what is queued is written.
  process.once('exit', flush);
  return {
    logger,
    redactor,
    logFile,
    flush,
    async drain() {
      if (stdout.dropped > 0) {
        logger.warn(
          { dropped: stdout.dropped },
          `${stdout.dropped} log record(s) were dropped: stdout did not keep up`,
        );
        stdout.dropped = 0;
      }
      flush();
      await stdout.drain();
      flush();
    },
  };
}

/** `<SERVICE>_LOG_LEVEL` wins over LOG_LEVEL: CERTIFICATES_LOG_LEVEL=debug for one service. */
export function serviceLevelVariable(service: string): string {
  return `${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_LOG_LEVEL`;
}
