import type { CommandRunner } from '../command.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { groupAlive, groupGone, killGroup, killOne, settlesWithin } from './process-group.js';
import type { SignalAction } from './process-spec.js';

/** How long a stop waits after SIGKILL for the killed processes to be reaped. */
const KILLED_REAP_WAIT_MS = 1_000;

export interface StopRequest {
  pid: number;
  /** The declared way to stop: a signal to the main process or its group, or a command. */
  action: SignalAction;
  timeoutMs: number;
  /** Sent when the declared stop has not ended `windowMs` before the deadline. */
  fast?: { signal: NodeJS.Signals; target?: 'main' | 'group'; windowMs: number };
  /** Settles when the main process has exited and been reaped. */
  exited: Promise<unknown>;
}

/**
 * Ends a process and everything in its group within one deadline: the declared stop (a
 * signal to the main process by default, so a daemon's master shuts its workers down its
 * own way; or to the group; or a command such as `apache2ctl -k graceful-stop`); once the
 * main process is gone, what is left of the group gets the stop signal; at the deadline the
 * whole group gets SIGKILL.
 */
export async function stopWithEscalation(req: StopRequest, log: Logger, commands: CommandRunner): Promise<void> {
  const deadline = Date.now() + req.timeoutMs;
  const signal = 'signal' in req.action ? req.action.signal : 'SIGTERM';
  // Whether every process in the group already had its stop signal: a second one is not sent,
  // since many daemons read a repeated SIGTERM or SIGINT as "stop now" and a shell re-runs its trap.
  let groupSignalled = false;
  if ('command' in req.action) {
    log.info({ pid: req.pid, argv: req.action.command, timeoutMs: req.timeoutMs }, 'stopping with its stop command');
    try {
      await commands.run(req.action.command, { timeoutMs: req.timeoutMs });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, `stop command failed; sending ${signal} instead`);
      killOne(req.pid, signal);
    }
  } else if (req.action.target === 'group') {
    log.info({ pid: req.pid, signal, timeoutMs: req.timeoutMs }, `stopping with ${signal} to its process group`);
    killGroup(req.pid, signal);
    groupSignalled = true;
  } else {
    log.info({ pid: req.pid, signal, timeoutMs: req.timeoutMs }, `stopping with ${signal}`);
    killOne(req.pid, signal);
  }

  if (req.fast && req.timeoutMs > req.fast.windowMs) {
    const gracefulMs = req.timeoutMs - req.fast.windowMs;
    if (!(await settlesWithin(req.exited, deadline - req.fast.windowMs - Date.now()))) {
      const { signal: fast, target } = req.fast;
      log.warn(
        { pid: req.pid, signal: fast, gracefulMs },
        `graceful stop not done after ${gracefulMs} ms; sending ${fast} (fast stop), SIGKILL in ${req.fast.windowMs} ms`,
      );
      if (target === 'group') killGroup(req.pid, fast);
      else killOne(req.pid, fast);
      groupSignalled ||= target === 'group';
    }
  }
  const leaderExited = await settlesWithin(req.exited, deadline - Date.now());
  // The main process is gone but workers or daemons it forked still hold the group: they get
  // the stop signal and the rest of the timeout.
  if (leaderExited && !groupSignalled && groupAlive(req.pid)) killGroup(req.pid, signal);
  if (leaderExited && (await groupGone(req.pid, deadline))) return;
  log.warn(
    { pid: req.pid, timeoutMs: req.timeoutMs },
    `did not stop within ${req.timeoutMs} ms; sending SIGKILL to its process group`,
  );
  killGroup(req.pid, 'SIGKILL');
  await req.exited;
  await groupGone(req.pid, Date.now() + KILLED_REAP_WAIT_MS, 10);
}

/**
 * The main process has exited on its own, but what it started may still hold its group
 * (`sh -c 'daemon & exit 0'`): like `tini -g` and dumb-init, end them with the stop signal
 * and SIGKILL after the stop timeout, so nothing outlives the process it belonged to.
 */
export async function sweepGroup(pgid: number, signal: NodeJS.Signals, timeoutMs: number, log: Logger): Promise<void> {
  if (!groupAlive(pgid)) return;
  log.info({ pgid, signal, timeoutMs }, `the process exited but left others in its group; sending them ${signal}`);
  killGroup(pgid, signal);
  if (await groupGone(pgid, Date.now() + timeoutMs)) return;
  log.warn({ pgid, timeoutMs }, `its group did not end within ${timeoutMs} ms; sending SIGKILL`);
  killGroup(pgid, 'SIGKILL');
  // Until the orphan reaper has collected them: an init that exits now would leave zombies.
  await groupGone(pgid, Date.now() + KILLED_REAP_WAIT_MS, 10);
}
