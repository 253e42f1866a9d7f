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
  /** Each kept line's sequence number (1, 2, …), in step with `lines`. */
  private readonly seqs: number[] = [];
  private seq = 0;
  private bytes = 0;
  private readonly followers = new Set<(line: string, seq: number) => void>();
  /**
   * This buffer's life (one run of the service): a reader resuming with an id from another
   * run starts from the oldest line kept instead of skipping lines it never saw.
   */
  readonly instance = Date.now().toString(36);

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
      this.seq += 1;
      this.lines.push(line);
      this.seqs.push(this.seq);
      this.bytes += line.length;
      while (this.lines.length > this.capacity || this.bytes > this.maxBytes) {
        this.bytes -= (this.lines.shift() as string).length;
        this.seqs.shift();
      }
      for (const follow of this.followers) follow(line, this.seq);
    }
    return true;
  }

  /** The newest `count` lines, oldest first. */
  last(count: number): string[] {
    return this.lastEntries(count).map((e) => e.line);
  }

  /** The newest `count` lines with their sequence numbers, oldest first. */
  lastEntries(count: number): Array<{ seq: number; line: string }> {
    const from = Math.max(0, this.lines.length - Math.max(0, count));
    return this.lines.slice(from).map((line, i) => ({ seq: this.seqs[from + i] as number, line }));
  }

  /**
   * The lines after `after` (a sequence number of this run), and how many lines after it are
   * gone already (the buffer dropped them): what a reader resuming from `after` needs.
   */
  since(after: number): { entries: Array<{ seq: number; line: string }>; missed: number } {
    const oldest = this.seqs[0] ?? this.seq + 1;
    const missed = Math.max(0, oldest - after - 1);
    const from = this.seqs.findIndex((s) => s > after);
    if (from < 0) return { entries: [], missed };
    return { entries: this.lines.slice(from).map((line, i) => ({ seq: this.seqs[from + i] as number, line })), missed };
  }

  /** Calls `onLine` for every new line until the returned function is called. */
  follow(onLine: (line: string, seq: number) => void): () => void {
    this.followers.add(onLine);
    return () => this.followers.delete(onLine);
  }
}

/** A string with storage of its own (not a view into a larger one). */
function flatCopy(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
