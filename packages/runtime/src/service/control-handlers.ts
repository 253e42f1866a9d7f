import { readdirSync } from 'node:fs';
import { type ControlHandlers, NotFound, RequestFailed } from '../control/control-server.js';
import type { LogBuffer } from '../control/log-buffer.js';
import type { RuntimeFootprint, StatusResponse } from '../control/protocol.js';
import type { StatusPublisher } from '../health/status-publisher.js';
import type { Logger } from '../logging/logger.js';
import type { Redactor } from '../logging/redactor.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { describeAction } from './action-catalog.js';
import { ActionRunner } from './action-runner.js';
import type { BaseService } from './base-service.js';

interface Parts {
  name: string;
  mode: string;
  service: BaseService<unknown>;
  supervisor: Supervisor;
  publisher: StatusPublisher;
  logs: LogBuffer;
  /** Queues a reload on the runner's main loop, like SIGHUP, and resolves with its outcome. */
  reload(): Promise<boolean>;
  logger: Logger;
  redactor: Redactor;
}

/** PID 1's memory and descriptors: cheap enough for every status call (no heap walk). */
function runtimeFootprint(): RuntimeFootprint {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length - 1; // less the one readdir itself held open
  } catch {
    // Not Linux: unknown.
  }
  return { rss, heapUsed, heapTotal, external, arrayBuffers, fds, uptimeSeconds: Math.round(process.uptime()) };
}

/** What the control socket answers, from the runtime's own parts: no second source of truth. */
export function controlHandlers(parts: Parts): ControlHandlers {
  const { service, supervisor } = parts;
  const actions = () => Object.entries(service.actions()).map(([name, action]) => describeAction(name, action));
  const runner = new ActionRunner(
    parts.name,
    () => service.actions(),
    () => parts.publisher.currentPhase,
    parts.logger,
    parts.redactor,
  );
  return {
    logs: parts.logs,
    actions,
    async reload() {
      const ok = await parts.reload();
      return ok ? { ok } : { ok, reason: service.reloadProblem() };
    },
    async status(): Promise<StatusResponse> {
      const status = await parts.publisher.current();
      return {
        service: parts.name,
        pid: status.pid,
        mode: parts.mode,
        phase: status.phase,
        readiness: status.readiness,
        liveness: status.liveness,
        processes: status.processes,
        details: service.statusDetails(),
        actions: actions(),
        runtime: runtimeFootprint(),
      };
    },
    async process(name, request) {
      let proc: ReturnType<Supervisor['require']>;
      try {
        proc = supervisor.require(name);
      } catch (err) {
        throw new NotFound((err as Error).message);
      }
      if (request === 'stop') await proc.stopOnRequest();
      else {
        const ok = request === 'start' ? await proc.startOnRequest() : await proc.restartOnRequest();
        if (!ok && proc.state !== 'running') {
          throw new RequestFailed(`${name} did not become ready: ${proc.reason ?? proc.state}`);
        }
      }
      return proc.status();
    },
    action: (name, input) => runner.run(name, input),
  };
}
