import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { uniqueSuffix } from './podman.js';

const run = promisify(execFile);

/** A second host for a test: a network namespace joined to this one by a veth pair (a /30 of 198.18.0.0/15). */
export interface SecondHost {
  ns: string;
  /** This host's end of the pair: what the namespace reaches (ports published on it). */
  hostSide: string;
  /** The namespace's own address: a client that is neither loopback nor a gateway. */
  client: string;
  /** Deletes the link and the namespace (safe to call twice). */
  remove(): Promise<void>;
}

export async function createSecondHost(prefix: string): Promise<SecondHost> {
  const n = Math.floor(Math.random() * 250);
  const hostSide = `198.18.${n}.1`;
  const client = `198.18.${n}.2`;
  const ns = `${prefix}-${uniqueSuffix()}`;
  const link = `ph${uniqueSuffix()
    .replace(/[^a-z0-9]/g, '')
    .slice(-8)}`;
  const ip = async (...args: string[]) => {
    try {
      await run('ip', args);
    } catch (err) {
      throw new Error(`ip ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  };
  const remove = async () => {
    await run('ip', ['link', 'del', link]).catch(() => undefined);
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };
  try {
    await ip('netns', 'add', ns);
    await ip('link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}n`);
    await ip('link', 'set', `${link}n`, 'netns', ns);
    await ip('addr', 'add', `${hostSide}/30`, 'dev', link);
    await ip('link', 'set', link, 'up');
    await ip('-n', ns, 'addr', 'add', `${client}/30`, 'dev', `${link}n`);
    await ip('-n', ns, 'link', 'set', `${link}n`, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'route', 'add', 'default', 'via', hostSide);
  } catch (err) {
    await remove();
    throw err;
  }
  return { ns, hostSide, client, remove };
}
