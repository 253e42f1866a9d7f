import type { CommandRunner } from '../command.js';
import { access } from '../files/fs.js';
import type { ReadinessCheck } from './process-spec.js';

/** One attempt of a readiness check; false (never a throw) when not ready yet. */
export async function checkReady(check: ReadinessCheck, commands: CommandRunner): Promise<boolean> {
  try {
    if ('tcp' in check) return await tcpAccepts(check.tcp.host ?? '127.0.0.1', check.tcp.port, check.tcp.from);
    if ('file' in check) {
      await access(check.file);
      return true;
    }
    if ('notify' in check) return false; // answered by the daemon itself, never polled
    if ('command' in check) {
      const result = await commands.run(check.command, { reject: false, timeoutMs: 5_000 });
      return result.exitCode === 0;
    }
    return await check.probe();
  } catch {
    return false;
  }
}

/** node:net (and the streams stack under it) is loaded only by a service that uses a TCP check. */
async function tcpAccepts(host: string, port: number, from: string | undefined): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host, port, localAddress: from });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function describeCheck(check: ReadinessCheck): string {
  if ('tcp' in check) return `TCP ${check.tcp.host ?? '127.0.0.1'}:${check.tcp.port} accepts`;
  if ('file' in check) return `${check.file} exists`;
  if ('command' in check) return `${check.command.join(' ')} succeeds`;
  if ('notify' in check) return 'sd_notify READY=1';
  return 'probe passes';
}
