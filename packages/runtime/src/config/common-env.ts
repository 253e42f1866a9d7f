import { DEFAULT_RUN_DIR } from '../health/status.js';
import { defineEnv } from './env.js';
import { absolutePath, boolean, integer, oneOf } from './env-types.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Variables every PodServe service and `exec` understand. */
export const commonEnv = defineEnv({
  PODSERVE_ENV: {
    ...oneOf(['development', 'production'] as const),
    default: 'development',
    description: 'development fills in safe defaults for names and addresses; production requires them to be set.',
  },
  LOG_LEVEL: {
    ...oneOf(LOG_LEVELS),
    default: 'info',
    description:
      'Log level for every service. `<SERVICE>_LOG_LEVEL` (e.g. `CERTIFICATES_LOG_LEVEL`) overrides it for one service.',
  },
  LOG_FORMAT: {
    ...oneOf(['json', 'pretty'] as const),
    default: 'json',
    description: 'json: one JSON object per line on stdout (and in the log file); pretty: coloured lines for humans.',
  },
  LOG_DIR: {
    ...absolutePath(),
    default: '/data/logs',
    description:
      'Logs are also written to `<LOG_DIR>/<service>/<service>.log` when that is writable; otherwise one warning and stdout only.',
  },
  LOG_FILE_MAX_MB: {
    ...integer({ min: 1, max: 10_240 }),
    default: '10',
    description: 'The log file is rotated when it reaches this size (MiB): `<service>.log` becomes `<service>.log.1`.',
  },
  LOG_FILE_KEEP: {
    ...integer({ min: 1, max: 50 }),
    default: '3',
    description: 'Rotated log files kept besides the current one (`.1` is the newest); older ones are deleted.',
  },
  LOG_COMMANDS: {
    ...boolean(),
    default: 'false',
    description: 'Log every command the runtime runs with its arguments, exit code, duration and output.',
  },
  LOG_CONFIGS: {
    ...boolean(),
    default: 'false',
    description: 'Log the content of every config file the service renders.',
  },
  STOP_GRACE_PERIOD: {
    ...integer({ min: 3, max: 3_600 }),
    default: '10',
    description:
      "The container's grace period in seconds, from SIGTERM to SIGKILL: podman stop's default is 10; in pod.yaml, `terminationGracePeriodSeconds`, with the same value here. The whole stop (a reload in flight, each daemon's graceful stop, its fast stop, then SIGKILL) is planned to end 1.5 s before it, so the runtime exits 0 on its own.",
  },
  PODSERVE_RUN_DIR: {
    ...absolutePath(),
    default: DEFAULT_RUN_DIR,
    description:
      'Where a running service publishes its health status (for `health` probes) and its control socket (for `ctl`). In a pod, a volume every container shares.',
  },
});
