import { EventEmitter } from 'node:events';
import type { CommandRunner } from '../command.js';
import { PodServeError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { type ProcessSpec, processDefaults } from './process-spec.js';
import { type ProcessStatus, SupervisedProcess } from './supervised-process.js';

/** Failed (crash loop, dependency) or exited non-zero with no restart coming. */
function endedForGood(p: SupervisedProcess): boolean {
  return p.state === 'failed' || (p.state === 'exited' && p.lastExit?.code !== 0);
}

export interface HealthResult {
  ok: boolean;
  reason: string;
  details?: Record<string, unknown>;
}

interface SupervisorEvents {
  /** A critical process failed for good: the service must end. */
  critical: [ProcessStatus];
  /** Any process changed state: health is worth re-evaluating. */
  change: [ProcessStatus];
}

/** The processes of one service: start order gated on readiness, reverse-order stop, reload. */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly processes = new Map<string, SupervisedProcess>();

  constructor(
    private readonly logger: Logger,
    private readonly commands: CommandRunner,
  ) {
    super();
  }

  /** Set by stopAll(): a service shutting down starts nothing more. */
  private stopping = false;
  /** When the runner's stop must be over (STOP_GRACE_PERIOD): stopAll() fits inside it. */
  private stopDeadline: number | null = null;

  /** The runner says when the whole stop must end; every later stopAll() fits inside it. */
  setStopDeadline(at: number): void {
    this.stopDeadline = at;
  }

  /** SIGKILL to every process group: the runner's last word when a stop overran its budget. */
  killAll(): void {
    for (const p of this.list()) p.kill();
  }

  add(spec: ProcessSpec): SupervisedProcess {
    if (this.stopping) throw new PodServeError(`process "${spec.name}" not added: the service is stopping`);
    if (this.processes.has(spec.name)) throw new PodServeError(`process "${spec.name}" is declared twice`);
    const proc = new SupervisedProcess(spec, this.logger, this.commands);
    proc.on('state', () => {
      this.emit('change', proc.status());
      if (proc.critical && endedForGood(proc)) this.emit('critical', proc.status());
    });
    proc.on('change', () => this.emit('change', proc.status()));
    this.processes.set(spec.name, proc);
    return proc;
  }

  get(name: string): SupervisedProcess | undefined {
    return this.processes.get(name);
  }

  list(): SupervisedProcess[] {
    return [...this.processes.values()];
  }

  /**
   * Starts every process once its dependencies are ready; resolves true when all are
   * ready, false as soon as one cannot become ready.
   */
  async startAll(): Promise<boolean> {
    const order = this.startOrder();
    const readiness = new Map<string, Promise<boolean>>();
    for (const proc of order) {
      const deps = proc.spec.dependsOn ?? [];
      const depsReady = Promise.all(deps.map((d) => readiness.get(d) ?? Promise.resolve(false)));
      const ready = depsReady.then(async (results) => {
        const failed = deps.filter((_, i) => !results[i]);
        if (failed.length > 0) {
          proc.fail(`not started: dependency ${failed.join(', ')} did not become ready`);
          return false;
        }
        if (deps.length > 0) this.logger.debug({ proc: proc.spec.name, deps }, 'dependencies ready; starting');
        proc.start();
        return proc.waitReady();
      });
      readiness.set(proc.spec.name, ready);
    }
    const results = await Promise.all(readiness.values());
    return results.every(Boolean);
  }

  /**
   * Dependents stop before what they depend on; independent processes stop together. All
   * levels share one deadline, so the whole stop fits in the container's grace period.
   */
  async stopAll(budgetMs?: number): Promise<void> {
    this.stopping = true;
    const longest = Math.max(0, ...this.list().map((p) => p.spec.stopTimeoutMs ?? processDefaults.stopTimeoutMs));
    const deadline = Math.min(Date.now() + (budgetMs ?? longest), this.stopDeadline ?? Number.POSITIVE_INFINITY);
    const levels = new Map<string, number>();
    const level = (p: SupervisedProcess): number => {
      const known = levels.get(p.spec.name);
      if (known !== undefined) return known;
      levels.set(p.spec.name, 0); // a cycle (refused at start) must not recurse forever here
      const deps = (p.spec.dependsOn ?? []).map((d) => this.processes.get(d)).filter((d) => d !== undefined);
      const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(level));
      levels.set(p.spec.name, value);
      return value;
    };
    const byLevel = new Map<number, SupervisedProcess[]>();
    for (const p of this.processes.values()) byLevel.set(level(p), [...(byLevel.get(level(p)) ?? []), p]);
    for (const l of [...byLevel.keys()].sort((a, b) => b - a)) {
      const left = deadline - Date.now();
      await Promise.all(
        (byLevel.get(l) ?? []).map((p) =>
          p.stop(undefined, Math.min(p.spec.stopTimeoutMs ?? processDefaults.stopTimeoutMs, left)),
        ),
      );
    }
  }

  /** The process by name, or a PodServeError naming the ones there are. */
  require(name: string): SupervisedProcess {
    const proc = this.processes.get(name);
    if (!proc) {
      throw new PodServeError(
        `no process "${name}"; this service has: ${[...this.processes.keys()].join(', ') || 'none'}`,
      );
    }
    return proc;
  }

  /** Sends `signal` to the main process of every process that is running; returns how many got it. */
  signalAll(signal: NodeJS.Signals): number {
    return this.list().filter((p) => p.signal(signal)).length;
  }

  async reloadAll(): Promise<boolean> {
    const results = await Promise.all(this.list().map((p) => p.reload()));
    return results.every(Boolean);
  }

  /**
   * Ready when every process is running and healthy (or a one-shot finished cleanly); the
   * reason names the others.
   */
  readiness(): HealthResult {
    const problems = this.list()
      .map((p) => p.status())
      .filter((s) => !((s.state === 'running' && s.healthy) || (s.state === 'exited' && s.lastExit?.code === 0)))
      .map((s) =>
        s.state === 'running'
          ? `${s.name} is unhealthy (${s.reason})`
          : `${s.name} is ${s.state}${s.reason ? ` (${s.reason})` : ''}`,
      );
    return problems.length === 0
      ? { ok: true, reason: this.processes.size === 0 ? 'no processes' : `${this.processes.size} process(es) running` }
      : { ok: false, reason: problems.join('; ') };
  }

  /** Alive unless a critical process failed: a non-critical failure is a readiness matter. */
  liveness(): HealthResult {
    const dead = this.list().filter((p) => p.critical && endedForGood(p));
    return dead.length === 0
      ? { ok: true, reason: 'supervisor alive' }
      : { ok: false, reason: dead.map((p) => `${p.spec.name} failed (${p.reason})`).join('; ') };
  }

  snapshot(): ProcessStatus[] {
    return this.list().map((p) => p.status());
  }

  private startOrder(): SupervisedProcess[] {
    for (const p of this.processes.values()) {
      for (const dep of p.spec.dependsOn ?? []) {
        if (!this.processes.has(dep)) {
          throw new PodServeError(`process "${p.spec.name}" depends on "${dep}", which is not declared`);
        }
      }
    }
    const ordered: SupervisedProcess[] = [];
    const visiting = new Set<string>();
    const visit = (p: SupervisedProcess, path: string[]) => {
      if (ordered.includes(p)) return;
      if (visiting.has(p.spec.name)) {
        throw new PodServeError(`dependency cycle: ${[...path, p.spec.name].join(' → ')}`);
      }
      visiting.add(p.spec.name);
      for (const dep of p.spec.dependsOn ?? []) {
        const d = this.processes.get(dep);
        if (d) visit(d, [...path, p.spec.name]);
      }
      visiting.delete(p.spec.name);
      ordered.push(p);
    };
    for (const p of this.processes.values()) visit(p, []);
    return ordered;
  }
}
