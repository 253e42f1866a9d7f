import { type FSWatcher, readlink as readlinkCb, stat as statCb, watch } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';

// Callback fs, promisified: node:fs/promises costs every consumer's PID 1 about 1 MB of memory.
const readlink = promisify(readlinkCb);
const stat = promisify(statCb);

import { errCode } from '../files/errno-hints.js';
import { readOptional } from '../files/links.js';
import { parsePair } from './pem.js';

/** The certificates volume's link to the generation in service (the publisher's layout). */
export const CURRENT_GENERATION_LINK = 'current';

/** `generations/<id>`, with the id newGenerationId() makes. */
const GENERATION_LINK = /^generations\/\d{8}T\d{9}Z-\d+-\d{6}$/;

/** A consistent pair: every field was read from the one generation directory `current` named. */
export interface CertificatePair {
  generation: string;
  /** Absolute path of that generation directory. */
  dir: string;
  cert: string;
  key: string;
  fullchain: string;
  chain: string;
  /** Self-signed only: the local CA to trust. */
  ca: string | undefined;
  names: string[];
  notBefore: Date;
  notAfter: Date;
}

export class CertificatePairError extends Error {
  override readonly name = 'CertificatePairError';
  constructor(
    message: string,
    /** Set when nothing is published yet (no `current` link): the errno of reading it. */
    readonly missing?: string,
  ) {
    super(message);
  }
}

/**
 * Reads the published certificate and key so that they always belong together: `current`
 * is resolved once and both files come from that directory (reading `cert.pem` and
 * `privkey.pem` through the top-level links is two resolutions and can straddle a switch).
 * Verifies the key matches the certificate; throws CertificatePairError otherwise.
 */
export async function readCertificatePair(certPath: string): Promise<CertificatePair> {
  let lastError: unknown;
  // A generation can be pruned between readlink and read (a reader stalled across several
  // renewals): resolve again rather than fail.
  for (let attempt = 0; attempt < 5; attempt++) {
    let target: string;
    try {
      target = await readlink(join(certPath, CURRENT_GENERATION_LINK));
    } catch (err) {
      const code = errCode(err) ?? String(err);
      throw new CertificatePairError(`no published certificate in ${certPath} (${code})`, code);
    }
    // Only what the publisher makes: a link elsewhere (or a name with quotes or newlines, which
    // would end up in a daemon's config) is refused, whoever could write the volume.
    if (!GENERATION_LINK.test(target)) {
      throw new CertificatePairError(
        `${join(certPath, CURRENT_GENERATION_LINK)} points at "${target}", not at a generation`,
      );
    }
    const dir = resolve(certPath, target);
    try {
      const [cert, key, fullchain, chain, ca] = await Promise.all(
        ['cert.pem', 'privkey.pem', 'fullchain.pem', 'chain.pem', 'ca.pem'].map((f) => readOptional(join(dir, f))),
      );
      if (cert === undefined || key === undefined || fullchain === undefined) {
        lastError = new CertificatePairError(`generation ${basename(dir)} is incomplete or gone`);
        continue;
      }
      let parsed: ReturnType<typeof parsePair>;
      try {
        parsed = parsePair(cert, key, fullchain);
      } catch (err) {
        throw new CertificatePairError(`${dir}: ${(err as Error).message}`);
      }
      return {
        generation: basename(dir),
        dir,
        cert,
        key,
        fullchain,
        chain: chain ?? '',
        ca,
        names: parsed.names,
        notBefore: parsed.notBefore,
        notAfter: parsed.notAfter,
      };
    } catch (err) {
      if (err instanceof CertificatePairError) throw err;
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new CertificatePairError(String(lastError));
}

export interface WatchOptions {
  /** Quiet time after the last change before reading (default 250 ms). */
  debounceMs?: number;
  /** Also call the handler for the generation that is current when watching starts. */
  emitInitial?: boolean;
  /**
   * A generation that fails verification (or an unreadable one) is reported here, not
   * signalled: at start too, and again at every re-read while it stays current.
   */
  onError?: (err: Error) => void;
  /**
   * Called when CERT_PATH is not a directory yet (a volume not mounted or not filled), at
   * once and then every `waitingReportMs` until it is; watching starts when it appears.
   */
  onWaiting?: (reason: string) => void;
  /**
   * CERT_PATH has no `current` link (nothing published yet), at start and at every re-read
   * until it has. Without this callback that is silent at start and an onError later.
   */
  onMissing?: (err: CertificatePairError) => void;
  /**
   * Called once when CERT_PATH cannot be watched (fs.watch failed: ENOSPC when the inotify
   * watch limit is reached, or a filesystem without inotify): changes are then found by the
   * re-read every `recheckMs` only. `reason` says so, for the log and readiness.
   */
  onDegraded?: (reason: string) => void;
  /** Default 10 s. */
  waitingReportMs?: number;
  /** `current` is read again this often even without an event. Default 30 s. */
  recheckMs?: number;
}

export interface CertificateWatcher {
  /** Resolves once the watch is in place (changes after this are never missed). */
  readonly ready: Promise<void>;
  /** The last generation signalled or seen at start. */
  readonly current: CertificatePair | undefined;
  /** Set when changes are found by polling only (see WatchOptions.onDegraded). */
  readonly degraded: string | undefined;
  close(): Promise<void>;
}

/**
 * Calls `onNewGeneration` with a verified pair each time a new generation becomes current.
 * Watches the CERT_PATH directory itself (inotify through fs.watch) for the rename of
 * `current`: a watch on `cert.pem` follows the link to one generation's file and never hears
 * about the switch (measured). Bursts are debounced, the pair is verified before anyone is
 * told to reload, and `current` is also read again every `recheckMs`, in case a filesystem
 * gives no events (a network volume).
 *
 * Not chokidar, which an earlier version used: it loads node:fs/promises, and every consumer
 * is a daemon's PID 1 held to 1.25 × a bare Node's memory (measured: +1 MB for a watch on one
 * directory, on Linux only, which fs.watch does with the same inotify call).
 */
export function watchCertificates(
  certPath: string,
  onNewGeneration: (pair: CertificatePair) => void | Promise<void>,
  options: WatchOptions = {},
): CertificateWatcher {
  const debounceMs = options.debounceMs ?? 250;
  const report = options.onError ?? (() => undefined);
  let current: CertificatePair | undefined;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let checking: Promise<void> = Promise.resolve();
  /** Reads queued or running: a periodic re-read is not queued behind a slow one. */
  let reads = 0;
  let watcher: FSWatcher | undefined;
  let recheck: NodeJS.Timeout | undefined;
  let degraded: string | undefined;
  const recheckMs = options.recheckMs ?? 30_000;

  const check = (initial: boolean): Promise<void> => {
    reads += 1;
    checking = checking.then(async () => {
      try {
        await read(initial);
      } catch (err) {
        // A callback that threw: the chain must go on (a rejected link would stop every later read).
        report(err instanceof Error ? err : new Error(String(err)));
      } finally {
        reads -= 1;
      }
    });
    return checking;
  };
  const read = async (initial: boolean): Promise<void> => {
    if (closed) return;
    let pair: CertificatePair;
    try {
      pair = await readCertificatePair(certPath);
    } catch (err) {
      const missing = err instanceof CertificatePairError && err.missing !== undefined;
      if (missing && options.onMissing) options.onMissing(err);
      else if (!missing || !initial) report(err as Error);
      return;
    }
    if (pair.generation === current?.generation) return;
    current = pair;
    if (initial && !options.emitInitial) return;
    try {
      await onNewGeneration(pair);
    } catch (err) {
      report(err as Error);
    }
  };
  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void check(false);
    }, debounceMs);
  };

  const ready = (async () => {
    const root = resolve(certPath);
    await untilDirectory(root, () => closed, options.onWaiting, options.waitingReportMs ?? 10_000);
    await check(true);
    if (closed) return;
    // The re-read below still finds every change, only later: say so once.
    const degrade = (err: unknown) => {
      if (degraded !== undefined || closed) return;
      degraded = `watching ${root} by polling every ${duration(recheckMs)}: inotify unavailable (${errCode(err) ?? String(err)})`;
      options.onDegraded?.(degraded);
    };
    try {
      // Only `current` matters; everything else in CERT_PATH changes for the publisher's own reasons.
      watcher = watch(root, { persistent: false }, (_event, name) => {
        if (name === null || name === CURRENT_GENERATION_LINK) schedule();
      });
      // An error event ends the watch for good.
      watcher.on('error', (err) => {
        report(err);
        degrade(err);
      });
    } catch (err) {
      // Thrown, not emitted: ENOSPC (the inotify watch limit, shared by every container of the
      // host), EMFILE, or no inotify at all.
      degrade(err);
    }
    // A read of its own, not a debounced one: a period shorter than the debounce would
    // otherwise push the read back for ever (and with it every event's).
    recheck = setInterval(() => {
      if (!timer && reads === 0) void check(false);
    }, recheckMs);
    recheck.unref();
    // A switch between the first read and the watch being in place is caught here.
    await check(false);
  })();

  // Nothing here may reject unhandled in a PID 1 (the process would exit with no ordered stop).
  ready.catch((err: unknown) => report(err instanceof Error ? err : new Error(String(err))));

  return {
    ready,
    get current() {
      return current;
    },
    get degraded() {
      return degraded;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (recheck) clearInterval(recheck);
      await ready.catch(() => undefined);
      watcher?.close();
    },
  };
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** How often a missing CERT_PATH is looked for again. */
const DIRECTORY_POLL_MS = 500;

/**
 * Resolves once `path` is a directory (or `stopped()`). A watch on a path that does not
 * exist sees nothing, ever: polling until it exists is what makes a consumer started before
 * its volume was filled still work.
 */
async function untilDirectory(
  path: string,
  stopped: () => boolean,
  onWaiting: ((reason: string) => void) | undefined,
  reportEveryMs: number,
): Promise<void> {
  let reportedAt = 0;
  while (!stopped()) {
    let reason: string;
    try {
      if ((await stat(path)).isDirectory()) return;
      reason = `${path} is not a directory`;
    } catch (err) {
      reason = `${path} does not exist yet (${errCode(err) ?? String(err)})`;
    }
    if (Date.now() - reportedAt >= reportEveryMs) {
      reportedAt = Date.now();
      onWaiting?.(reason);
    }
    await new Promise((r) => setTimeout(r, DIRECTORY_POLL_MS));
  }
}
