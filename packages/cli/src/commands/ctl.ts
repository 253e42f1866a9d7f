import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ActionInfo, PodStatus, ProcessStatus, StatusResponse } from '@podserve/protocol';
import { UsageError } from '@podserve/runtime/errors';
import { findService } from '../services.js';
import { ctlUsage } from '../usage.js';
import { actionInput, actionsText, resolveAction } from './action-call.js';
import type { RemoteTarget } from './remote.js';

/** node:https and the remote client load only when ctl runs, never in probes or PID 1. */
type Remote = typeof import('./remote.js');

/** Where ctl's requests go: a service's socket, or the same service through the pod's API. */
interface Link {
  /** `path` under the service's protocol root: /status, /reload, /actions/NAME … */
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  logs(lines: string, follow: boolean, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
}

function localLink(socket: string): Link {
  return {
    call: async (method, path, body) =>
      (await import('@podserve/runtime/control')).controlRequest(socket, method, `/v1${path}`, body),
    logs: async (lines, follow, onLine, signal) =>
      (await import('@podserve/runtime/control')).controlStream(
        socket,
        `/v1/logs?lines=${encodeURIComponent(lines)}${follow ? '&follow=1' : ''}`,
        onLine,
        signal,
      ),
  };
}

/**
 * The service through the API: the one named, or for an action the one service that offers
 * it (`ctl users add …` finds mail). Built-in commands need --service: every service has them.
 */
async function remoteLink(r: Remote, t: RemoteTarget, named: string | undefined, command: string): Promise<Link> {
  const { remoteRequest, remoteLogStream } = r;
  let service = named;
  if (service === undefined) {
    const { services } = await remoteRequest<{ services: string[] }>(t, 'GET', '/api/v1/services');
    if (BUILT_IN.includes(command)) {
      throw new UsageError(
        `ctl ${command} through the API needs --service NAME; the pod has: ${services.join(', ') || 'none'}`,
      );
    }
    const offering: string[] = [];
    for (const s of services) {
      const { actions } = await remoteRequest<{ actions: ActionInfo[] }>(
        t,
        'GET',
        `/api/v1/services/${s}/actions`,
      ).catch(() => ({
        actions: [] as ActionInfo[],
      }));
      if (actions.some((a) => a.name === command || a.name.startsWith(`${command}-`))) offering.push(s);
    }
    if (offering.length !== 1) {
      throw new UsageError(
        offering.length === 0
          ? `ctl: no service in the pod offers "${command}" (it has: ${services.join(', ')}); see ctl --service NAME actions`
          : `ctl: ${offering.join(' and ')} both offer "${command}"; name one with --service`,
      );
    }
    service = offering[0] as string;
  }
  const base = `/api/v1/services/${encodeURIComponent(service)}`;
  const name = service;
  return {
    call: (method, path, body) => remoteRequest(t, method, `${base}${path}`, body),
    logs: (lines, follow, onLine, signal) => remoteLogStream(t, name, lines, follow, onLine, signal),
  };
}

const BUILT_IN = ['start', 'stop', 'restart', 'reload', 'logs', 'actions', 'status'];

/** sysexits: the service could not be reached. */
const EXIT_UNAVAILABLE = 69;
/** sysexits EX_PROTOCOL: it answered in a protocol version this ctl does not speak. */
const EXIT_PROTOCOL = 76;
/** sysexits EX_NOPERM: the API refused the token (401) or its scope (403). */
const EXIT_NOPERM = 77;
/** sysexits EX_TEMPFAIL: rate-limited (429); try again after the time it said. */
const EXIT_TEMPFAIL = 75;

/**
 * `ctl [--socket PATH | --service NAME] [--json] COMMAND …`: talks to a running service's
 * control socket. Exit 0 on success, 1 when the service refused or failed the request, 69
 * when nothing answers, 64 for a bad command line.
 */
export async function ctlCommand(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new UsageError(`ctl: ${(err as Error).message.split('.')[0]}; run "node dist/main.js ctl --help"`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(ctlUsage());
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === undefined)
    throw new UsageError('ctl needs a command: status, start, stop, restart, reload, logs, actions or an action name');
  checkArguments(command, rest);
  if (values.service !== undefined && !SERVICE_NAME.test(values.service)) {
    throw new UsageError(
      `ctl: --service takes a service name (lower-case letters, digits and -, as in services.json); found "${values.service}"`,
    );
  }
  const client = await import('@podserve/runtime/control');
  const r: Remote = await import('./remote.js');
  const json = values.json ?? false;
  try {
    const remote = values.socket === undefined ? r.remoteTarget(values, env) : undefined;
    if (remote && command === 'status' && values.service === undefined) {
      const pod = await r.remoteRequest<PodStatus>(remote, 'GET', '/api/v1/status');
      process.stdout.write(json ? `${JSON.stringify(pod, null, 2)}\n` : podTable(pod));
      return pod.ready ? 0 : 1;
    }
    const link: Link = remote
      ? await remoteLink(r, remote, values.service, command)
      : localLink(
          values.socket ??
            client.findControlSocket(
              env.PODSERVE_RUN_DIR || client.DEFAULT_RUN_DIR,
              values.service ?? containerService(),
            ),
        );
    const call = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => link.call<T>(method, path, body);
    switch (command) {
      case 'status': {
        const status = await call<StatusResponse>('GET', '/status');
        process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : statusTable(status));
        return status.readiness.ok ? 0 : 1;
      }
      case 'start':
      case 'stop':
      case 'restart': {
        const name = rest[0] as string; // checked by checkArguments
        const { process: proc } = await call<{ process: ProcessStatus }>(
          'POST',
          `/processes/${encodeURIComponent(name)}/${command}`,
        );
        process.stdout.write(
          json
            ? `${JSON.stringify(proc, null, 2)}\n`
            : `${proc.name}: ${proc.state}${proc.pid ? ` (pid ${proc.pid})` : ''}, ${proc.restarts} restart(s)\n`,
        );
        return 0;
      }
      case 'reload': {
        await call('POST', '/reload');
        process.stdout.write(json ? '{"ok":true}\n' : 'reloaded\n');
        return 0;
      }
      case 'logs': {
        const lines = values.lines ?? '100';
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        await link.logs(
          lines,
          values.follow ?? false,
          (line) => process.stdout.write(`${json ? line : humanLine(line)}\n`),
          abort.signal,
        );
        return 0;
      }
      case 'actions': {
        const { actions } = await call<{ actions: ActionInfo[] }>('GET', '/actions');
        process.stdout.write(json ? `${JSON.stringify(actions, null, 2)}\n` : actionsText(actions));
        return 0;
      }
      default: {
        const { actions } = await call<{ actions: ActionInfo[] }>('GET', '/actions');
        const resolved = resolveAction([command, ...rest], actions);
        if (!resolved) {
          const offered = actions.map((a) => a.name).join(', ') || 'none';
          throw new UsageError(`ctl: unknown command "${command}"; this service's actions: ${offered}; see ctl --help`);
        }
        const secret = values['password-stdin'] ? await readSecret() : undefined;
        const input = actionInput(resolved.action, resolved.args, secret);
        const { result } = await call<{ result: unknown }>(
          'POST',
          `/actions/${encodeURIComponent(resolved.action.name)}`,
          input,
        );
        process.stdout.write(
          json || typeof result !== 'string' ? `${JSON.stringify(result, null, 2)}\n` : `${result}\n`,
        );
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof client.ControlUnavailable) {
      process.stderr.write(`ctl: ${err.message}\n`);
      return EXIT_UNAVAILABLE;
    }
    if (err instanceof r.NotAllowed) {
      process.stderr.write(`ctl ${command}: ${err.message}\n`);
      return EXIT_NOPERM;
    }
    if (err instanceof r.RateLimited) {
      process.stderr.write(`ctl ${command}: ${err.message}\n`);
      return EXIT_TEMPFAIL;
    }
    if (err instanceof client.ProtocolMismatch) {
      process.stderr.write(`ctl: ${err.message}\n`);
      return EXIT_PROTOCOL;
    }
    if (err instanceof client.ControlRequestError) {
      process.stderr.write(`ctl ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** What services.json allows as a name: never a path (`../../tmp/x` must not pick a socket). */
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The service this container runs, when ctl runs inside one: its PID 1 is
 * `node …/main.js SERVICE`. In a pod the run directory holds every service's socket, and
 * `ctl status` in the apache container means apache's.
 */
function containerService(): string | undefined {
  try {
    const argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
    const main = argv.findIndex((a) => a.endsWith('/main.js') || a === 'main.js');
    const service = main >= 0 ? argv[main + 1] : undefined;
    return service !== undefined && SERVICE_NAME.test(service) && findService(service) ? service : undefined;
  } catch {
    return undefined;
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      socket: { type: 'string' },
      service: { type: 'string' },
      json: { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      help: { type: 'boolean', short: 'h' },
      'password-stdin': { type: 'boolean' },
      url: { type: 'string' },
      'token-file': { type: 'string' },
      cacert: { type: 'string' },
      servername: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
}

/** Usage mistakes are reported before any socket is looked for (an action's, once it is known). */
function checkArguments(command: string, rest: readonly string[]): void {
  if (['start', 'stop', 'restart'].includes(command)) {
    if (rest[0] === undefined) throw new UsageError(`ctl ${command} needs a process name (see ctl status)`);
    noMore(command, rest.slice(1));
  } else if (['status', 'reload', 'logs', 'actions'].includes(command)) noMore(command, rest);
}

function noMore(command: string, rest: readonly string[]): void {
  if (rest.length > 0) throw new UsageError(`ctl ${command} takes no more arguments; found "${rest.join(' ')}"`);
}

/**
 * A secret from standard input, like `docker login --password-stdin`: never an argument (it
 * would stay in the shell's history and in /proc/PID/cmdline). One trailing newline is `echo`'s.
 */
async function readSecret(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (secret === '') throw new UsageError('ctl: --password-stdin found nothing on standard input');
  return secret;
}

/** The pod through the API: one line per service, then each service's table. */
function podTable(pod: PodStatus): string {
  const out = [`pod: ${pod.ready ? 'ready' : 'NOT READY'}`];
  for (const s of pod.services) {
    if (!s.status) out.push(`  ${s.service}: UNREACHABLE: ${s.error?.message ?? 'no answer'}`);
    else
      out.push(
        `  ${s.service}: ${s.status.readiness.ok ? 'ready' : `NOT READY (phase ${s.status.phase})`}: ${s.status.readiness.reason}`,
      );
  }
  out.push('');
  for (const s of pod.services) if (s.status) out.push(statusTable(s.status));
  return `${out.join('\n')}`;
}

function statusTable(s: StatusResponse): string {
  const mark = (ok: boolean) => (ok ? 'ok' : 'NOT OK');
  // The header is the verdict: a service in its ready phase whose checks fail is not ready.
  const verdict = s.readiness.ok ? 'ready' : `NOT READY (phase ${s.phase})`;
  const out = [
    `${s.service} (mode ${s.mode}, pid ${s.pid}): ${verdict}`,
    `  readiness: ${mark(s.readiness.ok)}: ${s.readiness.reason}`,
    `  liveness:  ${mark(s.liveness.ok)}: ${s.liveness.reason}`,
  ];
  for (const [key, value] of Object.entries(s.details))
    out.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (s.processes.length > 0) {
    const rows = [['PROCESS', 'STATE', 'PID', 'RESTARTS', 'HEALTH', 'LAST EXIT', 'REASON']];
    for (const p of s.processes) {
      const exit = p.lastExit
        ? p.lastExit.signal
          ? `killed by ${p.lastExit.signal}`
          : `code ${p.lastExit.code}`
        : '-';
      rows.push([
        p.name,
        p.state,
        p.pid ? String(p.pid) : '-',
        String(p.restarts),
        p.healthy ? 'ok' : 'failing',
        exit,
        p.reason ?? '',
      ]);
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    out.push(
      '',
      ...rows.map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      ),
    );
  }
  if (s.actions.length > 0) out.push('', `actions: ${s.actions.map((a) => a.name).join(', ')}`);
  return `${out.join('\n')}\n`;
}

/** A JSON log line as `time level [proc] message`, for people. */
function humanLine(line: string): string {
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    const proc = r.proc ? ` [${String(r.proc)}]` : '';
    return `${String(r.time ?? '')} ${String(r.level ?? '').padEnd(5)}${proc} ${String(r.msg ?? '')}`;
  } catch {
    return line;
  }
}
