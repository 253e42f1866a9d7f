/**
 * Installed by the first import of the entry point. A Node process without a
 * listener ignores SIGTERM when it is PID 1, and a signal that arrives before the
 * runner is ready would otherwise be lost: until a consumer subscribes, signals
 * are queued here and handed over in order.
 */
export const HANDLED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

const queued: HandledSignal[] = [];
let consumer: ((signal: HandledSignal) => void) | null = null;
let installed = false;

export function installSignalCapture(): void {
  if (installed) return;
  installed = true;
  for (const signal of HANDLED_SIGNALS) {
    process.on(signal, () => {
      if (consumer) consumer(signal);
      else queued.push(signal);
    });
  }
}

/** Hands every queued and future signal to `handler`; returns a function that detaches it. */
export function consumeSignals(handler: (signal: HandledSignal) => void): () => void {
  installSignalCapture();
  consumer = handler;
  for (const signal of queued.splice(0)) handler(signal);
  return () => {
    if (consumer === handler) consumer = null;
  };
}
