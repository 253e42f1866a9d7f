import type { ServerResponse } from 'node:http';
import { request } from 'node:http';
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from '@podserve/protocol/wire';
import type { Logger } from '@podserve/runtime';

/** A reader this far behind is cut off, with an `end` event saying so. */
const SLOW_READER_BYTES = 1024 * 1024;
/** A comment line this often: proxies and clients see the stream is alive. */
const HEARTBEAT_MS = 15_000;

export interface FollowOptions {
  socketPath: string;
  service: string;
  /** The last id the reader saw (Last-Event-ID), or undefined for the last `lines` records. */
  after?: string;
  lines: number;
  res: ServerResponse;
  log: Logger;
  heartbeatMs?: number;
  slowReaderBytes?: number;
}

/**
 * A service's log as Server-Sent Events: `id: INSTANCE.SEQ`, `event: log`, the record as
 * `data`. A reconnect with Last-Event-ID resumes after that record (the service's buffer says
 * what follows and whether any was dropped meanwhile: `event: gap`); a comment every 15 s
 * keeps the stream visibly alive; a reader that falls 1 MiB behind gets `event: end` with the
 * reason and is disconnected, as is every reader when the service closes the stream.
 */
export function followLogs(o: FollowOptions): void {
  const { res } = o;
  const query = new URLSearchParams({ follow: '1', ids: '1', lines: String(o.lines) });
  if (o.after) query.set('after', o.after);
  const limit = o.slowReaderBytes ?? SLOW_READER_BYTES;
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    upstream.destroy();
    if (!res.destroyed) {
      res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      // A reader that does not read even its end is not waited for.
      setTimeout(() => res.destroy(), 5_000).unref();
    }
    o.log.debug({ service: o.service, reason }, 'api: log stream ended');
  };
  const send = (text: string) => {
    if (ended) return;
    if (res.writableLength > limit) {
      end(`the reader fell over ${limit} bytes behind; reconnect with Last-Event-ID to resume`);
      return;
    }
    res.write(text);
  };
  const heartbeat = setInterval(() => send(': heartbeat\n\n'), o.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  const upstream = request({ socketPath: o.socketPath, path: `/v1/logs?${query}` }, (up) => {
    if ((up.statusCode ?? 500) !== 200) {
      let text = '';
      up.setEncoding('utf8');
      up.on('data', (c: string) => (text += c.slice(0, 4096)));
      up.on('end', () => {
        let message = `the ${o.service} service answered ${up.statusCode}`;
        try {
          message = (JSON.parse(text) as { error: { message: string } }).error.message;
        } catch {
          // keep the status
        }
        end(message);
      });
      return;
    }
    const missed = String(up.headers['podserve-log-missed'] ?? '0');
    if (missed !== '0') {
      send(
        `event: gap\ndata: ${JSON.stringify(
          missed === 'restarted'
            ? { restarted: true, message: `the ${o.service} service restarted since that id: its log starts again` }
            : { missed: Number(missed), message: `${missed} record(s) after that id were dropped already` },
        )}\n\n`,
      );
    }
    let rest = '';
    up.setEncoding('utf8');
    up.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        const id = /^\{"id":"([^"]+)","record":/.exec(line)?.[1];
        const record = id ? line.slice(`{"id":"${id}","record":`.length, -1) : line;
        send(`${id ? `id: ${id}\n` : ''}event: log\ndata: ${record}\n\n`);
      }
    });
    up.on('end', () => end(`the ${o.service} service closed its log stream (stopping?)`));
    up.on('error', () => end(`the ${o.service} service's log stream broke off`));
  });
  upstream.on('error', (err: NodeJS.ErrnoException) =>
    end(`the ${o.service} service does not answer on its control socket (${err.code ?? err.message})`),
  );
  upstream.end();

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
  });
  res.flushHeaders();
  res.on('close', () => {
    if (!ended) {
      ended = true;
      clearInterval(heartbeat);
      upstream.destroy();
    }
  });
}
