import type { Logger } from '@podserve/runtime';

/** Runs `rndc ARGS…`; true when rndc exited 0 (it logs its own complaint). */
export type Rndc = (args: string[]) => Promise<boolean>;

/** Thaw attempts before giving up: a named busy loading a large zone may refuse the first. */
const THAW_ATTEMPTS = 3;
const THAW_RETRY_MS = 500;

/**
 * `rndc freeze ZONE`, `work`, `rndc thaw ZONE`. While the zone is frozen named takes no dynamic
 * update (ACME's DNS-01 records, the control actions) and answers them SERVFAIL, so the thaw
 * runs on every path: after `work` fails, throws, or is skipped because a stop began. A freeze
 * is not started once `signal` (the service's stop) is aborted: the stop would race its thaw.
 * Resolves true when `work` succeeded and the zone was thawed.
 */
export async function whileFrozen(
  rndc: Rndc,
  zone: string,
  signal: AbortSignal,
  log: Logger,
  work: () => Promise<boolean>,
): Promise<boolean> {
  if (signal.aborted) {
    log.debug({ zone }, `not freezing ${zone}: the service is stopping`);
    return false;
  }
  log.debug({ zone }, `rndc freeze ${zone}`);
  if (!(await rndc(['freeze', zone]).catch(() => false))) {
    // rndc may have given up after named froze the zone (a timeout): a thaw costs nothing then.
    await rndc(['thaw', zone]).catch(() => false);
    return false;
  }
  let ok = false;
  try {
    if (signal.aborted) log.debug({ zone }, `the service is stopping: ${zone} is thawed without the change`);
    else ok = await work();
  } finally {
    ok = (await thaw(rndc, zone, log)) && ok;
  }
  return ok;
}

async function thaw(rndc: Rndc, zone: string, log: Logger): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    log.debug({ zone, attempt }, `rndc thaw ${zone}`);
    if (await rndc(['thaw', zone]).catch(() => false)) return true;
    if (attempt === THAW_ATTEMPTS) {
      log.error(
        { zone },
        `${zone} stays frozen: rndc thaw failed ${THAW_ATTEMPTS} times (updates are refused until it is thawed)`,
      );
      return false;
    }
    await new Promise((r) => setTimeout(r, THAW_RETRY_MS));
  }
}
