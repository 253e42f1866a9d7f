/**
 * Splits a child's output into lines as chunks arrive. It works on bytes: "\n" never occurs
 * inside a multi-byte UTF-8 sequence, so decoding whole lines is exact even when a chunk
 * ends mid-character, with no decoder state to carry.
 */
export class LineSplitter {
  /** A "line" this long without a newline is logged as it is: output is not buffered without bound. */
  static readonly maxLineBytes = 64 * 1024;
  private pending: Buffer | null = null;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      this.emit(data, start, nl);
      start = nl + 1;
    }
    data = data.subarray(start);
    if (data.length >= LineSplitter.maxLineBytes) {
      this.emit(data, 0, data.length);
      data = data.subarray(data.length);
    }
    this.pending = data.length > 0 ? Buffer.from(data) : null;
  }

  /** The stream ended: a last line without "\n" still counts. */
  end(): void {
    if (this.pending) this.emit(this.pending, 0, this.pending.length);
    this.pending = null;
  }

  private emit(data: Buffer, start: number, end: number): void {
    const stop = end > start && data[end - 1] === 13 ? end - 1 : end;
    this.onLine(data.toString('utf8', start, stop));
  }
}
