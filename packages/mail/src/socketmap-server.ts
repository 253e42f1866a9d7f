import type { Server, Socket } from 'node:net';
import type { Logger } from '@podserve/runtime';

/** A lookup's answer: the value, or not found. */
export type Lookup = (map: string, key: string) => string | undefined;

/** Bounds: postfix keeps one connection per daemon process (default_process_limit is 100). */
const MAX_CONNECTIONS = 256;
/** A request is `NAME KEY`; an address is at most 254 characters. */
const MAX_REQUEST = 1_024;
/** How often a refused connection is warned about. */
const WARN_EVERY_MS = 60_000;

/**
 * Postfix's socketmap protocol (socketmap_table(5)): netstrings, `NAME KEY` in, `OK value` or
 * `NOTFOUND ` out. PID 1 answers postfix's recipient and alias lookups from the users it holds
 * in memory, so a user added or removed is known to postfix at the same moment as to dovecot
 * (which re-reads its passwd-file on the next lookup): no window where one accepts mail the
 * other would refuse, and no postfix reload per change. Answers are synchronous map lookups.
 */
export class SocketmapServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private refusedAt = 0;

  constructor(
    private readonly path: string,
    private readonly lookup: Lookup,
    private readonly log: Logger,
  ) {}

  async listen(mode: number, owner?: { uid: number; gid: number }): Promise<void> {
    const { createServer } = await import('node:net');
    const { chmod, chown, unlink } = await import('node:fs/promises');
    await unlink(this.path).catch(() => undefined);
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = MAX_CONNECTIONS;
    server.on('drop', () => {
      const now = Date.now();
      if (now - this.refusedAt >= WARN_EVERY_MS) {
        this.refusedAt = now;
        this.log.warn(`socketmap: ${MAX_CONNECTIONS} connections open; refusing more (postfix retries the lookup)`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    await chmod(this.path, mode);
    if (owner) await chown(this.path, owner.uid, owner.gid);
    this.server = server;
    this.log.debug({ path: this.path }, `socketmap: listening on ${this.path}`);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = readNetstring(buffer);
        if (parsed === 'incomplete') break;
        if (parsed === 'invalid') {
          this.log.warn('socketmap: a malformed request; closing the connection');
          socket.destroy();
          return;
        }
        buffer = buffer.subarray(parsed.length);
        socket.write(netstring(this.answer(parsed.data)));
      }
    });
  }

  private answer(request: string): string {
    const space = request.indexOf(' ');
    if (space <= 0) return 'PERM the request is not "NAME KEY"';
    const map = request.slice(0, space);
    const key = request.slice(space + 1);
    try {
      const value = this.lookup(map, key);
      this.log.debug({ map, key, found: value !== undefined }, `socketmap: ${map} ${key}`);
      return value === undefined ? 'NOTFOUND ' : `OK ${value}`;
    } catch (err) {
      // TEMP: postfix defers (4xx) rather than rejecting mail while we cannot answer.
      return `TEMP ${(err as Error).message}`;
    }
  }
}

export function netstring(text: string): Buffer {
  const data = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`${data.length}:`), data, Buffer.from(',')]);
}

/** One netstring from the front of `buffer`: its text and how many bytes it took. */
export function readNetstring(buffer: Buffer): { data: string; length: number } | 'incomplete' | 'invalid' {
  const colon = buffer.indexOf(':');
  if (colon < 0) return buffer.length > 6 || !/^\d*$/.test(buffer.toString('latin1')) ? 'invalid' : 'incomplete';
  const digits = buffer.subarray(0, colon).toString('latin1');
  if (!/^\d{1,5}$/.test(digits)) return 'invalid';
  const size = Number(digits);
  if (size > MAX_REQUEST) return 'invalid';
  if (buffer.length < colon + 1 + size + 1) return 'incomplete';
  if (buffer[colon + 1 + size] !== 0x2c) return 'invalid';
  return { data: buffer.subarray(colon + 1, colon + 1 + size).toString('utf8'), length: colon + 2 + size };
}
