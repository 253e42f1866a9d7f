/**
 * The runner's mailbox: signals, a finished one-shot service and critical process
 * failures all arrive here, and the main loop takes them one at a time.
 */
export class EventQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ match: (item: T) => boolean; resolve: (item: T) => void }> = [];

  push(item: T): void {
    const index = this.waiters.findIndex((w) => w.match(item));
    if (index >= 0) {
      const [waiter] = this.waiters.splice(index, 1);
      waiter?.resolve(item);
      return;
    }
    this.items.push(item);
  }

  /** The first queued or future item matching `match`; others stay queued. */
  take(match: (item: T) => boolean = () => true): { promise: Promise<T>; cancel(): void } {
    const index = this.items.findIndex(match);
    if (index >= 0) {
      const [item] = this.items.splice(index, 1);
      return { promise: Promise.resolve(item as T), cancel: () => undefined };
    }
    let waiter: { match: (item: T) => boolean; resolve: (item: T) => void } | undefined;
    const promise = new Promise<T>((resolve) => {
      waiter = { match, resolve };
      this.waiters.push(waiter);
    });
    return {
      promise,
      cancel: () => {
        const i = waiter ? this.waiters.indexOf(waiter) : -1;
        if (i >= 0) this.waiters.splice(i, 1);
      },
    };
  }

  /** Everything queued, oldest first; the queue is left empty. */
  drain(): T[] {
    return this.items.splice(0);
  }
}
