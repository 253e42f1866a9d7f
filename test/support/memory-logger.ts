import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

/** A real pino logger whose records land in an array, for asserting on what was logged. */
export function memoryLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), records };
}
