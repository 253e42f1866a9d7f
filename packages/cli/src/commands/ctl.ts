import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ActionInfo, ProcessStatus, StatusResponse } from '@podserve/protocol';
import { UsageError } from '@podserve/runtime/errors';
import { findService } from '../services.js';
import { ctlUsage } from '../usage.js';
import { actionInput, actionsText, resolveAction } from './action-call.js';

/** sysexits: the service could not be reached. */
const EXIT_UNAVAILABLE = 69;
/** sysexits EX_PROTOCOL: it answered in a protocol version this ctl does not speak. */
const EXIT_PROTOCOL = 76;

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
  const json = values.json ?? false;
  try {
    const socket =
      values.socket ??
      client.findControlSocket(env.PODSERVE_RUN_DIR || client.DEFAULT_RUN_DIR, values.service ?? containerService());
    const call = <T>(method: 'GET' | 'POST', path: string, body?: unknown) =>
      client.controlRequest<T>(socket, method, path, body);
    switch (command) {
      case 'status': {
        const status = await call<StatusResponse>('GET', '/v1/status');
        process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : statusTable(status));
        return status.readiness.ok ? 0 : 1;
      }
      case 'start':
      case 'stop':
      case 'restart': {
        const name = rest[0] as string; // checked by checkArguments
        const { process: proc } = await call<{ process: ProcessStatus }>(
          'POST',
          `/v1/processes/${encodeURIComponent(name)}/${command}`,
        );
        process.stdout.write(
          json
            ? `${JSON.stringify(proc, null, 2)}\n`
            : `${proc.name}: ${proc.state}${proc.pid ? ` (pid ${proc.pid})` : ''}, ${proc.restarts} restart(s)\n`,
        );
        return 0;
      }
      case 'reload': {
        await call('POST', '/v1/reload');
        process.stdout.write(json ? '{"ok":true}\n' : 'reloaded\n');
        return 0;
      }
      case 'logs': {
        const lines = values.lines ?? '100';
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        await client.controlStream(
          socket,
          `/v1/logs?lines=${encodeURIComponent(lines)}${values.follow ? '&follow=1' : ''}`,
          (line) => process.stdout.write(`${json ? line : humanLine(line)}\n`),
          abort.signal,
        );
        return 0;
      }
      case 'actions': {
        const { actions } = await call<{ actions: ActionInfo[] }>('GET', '/v1/actions');
        process.stdout.write(json ? `${JSON.stringify(actions, null, 2)}\n` : actionsText(actions));
        return 0;
      }
      default: {
        const { actions } = await call<{ actions: ActionInfo[] }>('GET', '/v1/actions');
        const resolved = resolveAction([command, ...rest], actions);
        if (!resolved) {
          const offered = actions.map((a) => a.name).join(', ') || 'none';
          throw new UsageError(`ctl: unknown command "${command}"; this service's actions: ${offered}; see ctl --help`);
        }
        const secret = values['password-stdin'] ? await readSecret() : undefined;
        const input = actionInput(resolved.action, resolved.args, secret);
        const { result } = await call<{ result: unknown }>(
          'POST',
          `/v1/actions/${encodeURIComponent(resolved.action.name)}`,
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
