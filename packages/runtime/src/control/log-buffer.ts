/**
 * The last log records, kept in memory for `ctl logs` and handed to followers as they come.
 * pino writes each record as one JSON line (already scrubbed of secrets); the buffer keeps
 * the lines as strings, so it costs nothing to parse and little to hold.
 *
 * Bounded twice, by lines and by bytes: a service that logs rendered configs or a daemon's
 * long lines must not hold more than `maxBytes`, however few lines that is.
 */
export class LogBuffer {
  private readonly lines: string[] = [];
  private bytes = 0;
  private readonly followers = new Set<(line: string) => void>();

  constructor(
    readonly capacity = 1_000,
    readonly maxBytes = 512 * 1024,
  ) {}

  /** pino's multistream calls this with one or more complete lines. */
  write(chunk: string): boolean {
    const lines = chunk.split('\n');
    for (const part of lines) {
      if (part === '') continue;
      // A line cut from a chunk of several would keep the whole chunk alive in V8 (a sliced
      // string); a line longer than the whole buffer is cut to fit.
      const line = lines.length > 2 || part.length > this.maxBytes ? flatCopy(part.slice(0, this.maxBytes)) : part;
      this.lines.push(line);
      this.bytes += line.length;
      while (this.lines.length > this.capacity || this.bytes > this.maxBytes) {
        this.bytes -= (this.lines.shift() as string).length;
      }
      for (const follow of this.followers) follow(line);
    }
    return true;
  }

  /** The newest `count` lines, oldest first. */
  last(count: number): string[] {
    return this.lines.slice(-Math.max(0, count));
  }

  /** Calls `onLine` for every new line until the returned function is called. */
  follow(onLine: (line: string) => void): () => void {
    this.followers.add(onLine);
    return () => this.followers.delete(onLine);
  }
}

/** A string with storage of its own (not a view into a larger one). */
function flatCopy(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
