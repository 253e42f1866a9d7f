/**
 * Failed authentications per client address, in fixed windows: after `limit` failures in a
 * window the address is refused (429, Retry-After) until the window ends, even with a good
 * token, so guessing costs a window per `limit` tries. Bounded: at most `maxAddresses` are
 * remembered; past that the oldest is forgotten (an attacker with many addresses only makes
 * the table forget itself, never grow). Hand-written: twenty lines, where a library
 * (rate-limiter-flexible) would bring stores and options we would not use.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfter(address: string): number {
    const w = this.current(address);
    if (!w || w.failures < this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.now()) / 1000));
  }

  fail(address: string): void {
    const w = this.current(address);
    if (w) {
      w.failures += 1;
      return;
    }
    if (this.windows.size >= this.maxAddresses) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    this.windows.set(address, { start: this.now(), failures: 1 });
  }

  get size(): number {
    return this.windows.size;
  }

  private current(address: string) {
    const w = this.windows.get(address);
    if (w && this.now() - w.start >= this.windowMs) {
      this.windows.delete(address);
      return undefined;
    }
    return w;
  }
}
