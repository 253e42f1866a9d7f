const DAY = 86_400_000;

/** certmagic's schedule of retry delays after failures, in units of CERT_RETRY_MIN (1 m by default). */
const RETRY_STEPS = [1, 2, 5, 10, 20, 30, 60, 120, 180, 360] as const;

export interface Lifetime {
  notBefore: Date;
  notAfter: Date;
}

export interface RenewalPolicy {
  /** CERT_RENEW_BEFORE override. */
  renewBeforeMs?: number;
  /** CERT_WARN_BEFORE override. */
  warnBeforeMs?: number;
}

/**
 * How long before expiry to renew: 1/3 of the lifetime (1/2 for lifetimes of 10 days or
 * less, so Let's Encrypt's 6-day certificates keep 3 days of slack), as certmagic, certbot
 * and lego do. An override larger than 3/4 of the lifetime would renew right after every
 * issuance (an issuance loop, the way to a rate-limit lockout), so it is capped.
 */
export function renewWindowMs(life: Lifetime, policy: RenewalPolicy = {}): number {
  const lifetime = lifetimeMs(life);
  const natural = lifetime <= 10 * DAY ? lifetime / 2 : lifetime / 3;
  if (policy.renewBeforeMs === undefined) return natural;
  return Math.min(policy.renewBeforeMs, lifetime * MAX_RENEW_FRACTION);
}

/** The largest share of a lifetime CERT_RENEW_BEFORE may claim. */
export const MAX_RENEW_FRACTION = 0.75;

/** Whether CERT_RENEW_BEFORE asks for more than the cap allows for this certificate (worth a warning). */
export function renewBeforeCapped(life: Lifetime, policy: RenewalPolicy): boolean {
  return policy.renewBeforeMs !== undefined && policy.renewBeforeMs > lifetimeMs(life) * MAX_RENEW_FRACTION;
}

function lifetimeMs(life: Lifetime): number {
  return Math.max(0, life.notAfter.getTime() - life.notBefore.getTime());
}

/**
 * When to renew. The jitter (up to 1/10 of the window, at most an hour) only ever moves the
 * time earlier, so a fleet started together does not hit the CA in the same second.
 */
export function renewAt(life: Lifetime, policy: RenewalPolicy = {}, random: () => number = Math.random): Date {
  const window = renewWindowMs(life, policy);
  const jitter = random() * Math.min(window / 10, 3_600_000);
  return new Date(life.notAfter.getTime() - window - jitter);
}

/** Inside this much of expiry the published certificate is an alarm: never more than the renew window. */
export function warnWindowMs(life: Lifetime, policy: RenewalPolicy = {}): number {
  const lifetime = lifetimeMs(life);
  const wanted = policy.warnBeforeMs ?? lifetime / 6;
  return Math.min(wanted, renewWindowMs(life, policy));
}

/** Delay before retry number `failures` (1-based): 1, 2, 5, 10 … × min, capped, ±10 % jitter. */
export function retryDelayMs(
  failures: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const step = RETRY_STEPS[Math.min(Math.max(failures, 1), RETRY_STEPS.length) - 1] ?? 1;
  const base = Math.min(maxMs, minMs * step);
  return Math.round(Math.min(maxMs, base * (0.9 + 0.2 * random())));
}
