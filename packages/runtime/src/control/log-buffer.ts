/**
 * The last log records, kept in memory for `ctl logs` and handed to followers as they come.
 * pino writes each record as one JSON line (already scrubbed of secrets); the buffer keeps
 * the lines as strings, so it costs nothing to parse and little to hold.
 */
export class LogBuffer {
  private readonly lines: string[] = [];
  private readonly followers = new Set<(line: string) => void>();

  constructor(readonly capacity = 1_000) {}

  /** pino's multistream calls this with one or more complete lines. */
  write(chunk: string): boolean {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      this.lines.push(line);
      if (this.lines.length > this.capacity) this.lines.shift();
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
