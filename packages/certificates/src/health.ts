import type { HealthResult } from '@podserve/runtime';
import { type RenewalPolicy, warnWindowMs } from './renewal.js';
import type { Published } from './validate-existing.js';

export type Alarm = 'none' | 'warning' | 'expired' | 'missing';

export interface Assessment {
  alarm: Alarm;
  health: HealthResult;
}

/**
 * Readiness of the published pair: present, matching (checked when it was inspected or
 * published), not expired and not inside the warning window. Let's Encrypt sends no expiry
 * mail any more, so this probe and the log are the alarm.
 */
export function assess(published: Published | undefined, policy: RenewalPolicy, now = Date.now()): Assessment {
  if (!published) {
    return { alarm: 'missing', health: { ok: false, reason: 'no valid certificate is published' } };
  }
  const { notAfter } = published.pair;
  const left = notAfter.getTime() - now;
  const details = {
    generation: published.id,
    names: published.pair.names,
    notAfter: notAfter.toISOString(),
    secondsLeft: Math.round(left / 1000),
  };
  if (left <= 0) {
    return {
      alarm: 'expired',
      health: { ok: false, reason: `certificate expired on ${notAfter.toISOString()}`, details },
    };
  }
  const warn = warnWindowMs(published.pair, policy);
  if (left <= warn) {
    return {
      alarm: 'warning',
      health: {
        ok: false,
        reason: `certificate expires in ${Math.round(left / 1000)} s (warning window ${Math.round(warn / 1000)} s) and renewal has not succeeded`,
        details,
      },
    };
  }
  return {
    alarm: 'none',
    health: { ok: true, reason: `certificate valid until ${notAfter.toISOString()}`, details },
  };
}
