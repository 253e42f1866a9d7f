import { describe, expect, it } from 'vitest';
import { renewAt, renewWindowMs, retryDelayMs, warnWindowMs } from './renewal.js';

const DAY = 86_400_000;
const life = (days: number) => ({ notBefore: new Date(0), notAfter: new Date(days * DAY) });

describe('renewal policy', () => {
  it('renews with 1/3 of the lifetime left, 1/2 for lifetimes of 10 days or less', () => {
    expect(renewWindowMs(life(90))).toBe(30 * DAY);
    expect(renewWindowMs(life(6))).toBe(3 * DAY);
    expect(renewWindowMs(life(10))).toBe(5 * DAY);
  });

  it('caps an override that would renew right after issuance', () => {
    expect(renewWindowMs(life(90), { renewBeforeMs: 20 * DAY })).toBe(20 * DAY);
    expect(renewWindowMs(life(6), { renewBeforeMs: 30 * DAY })).toBe(4.5 * DAY);
  });

  it('jitter only moves the renewal earlier, by at most 1/10 of the window or an hour', () => {
    const l = life(90);
    expect(renewAt(l, {}, () => 0).getTime()).toBe(60 * DAY);
    expect(renewAt(l, {}, () => 1).getTime()).toBe(60 * DAY - 3_600_000);
    expect(renewAt(life(6), {}, () => 1).getTime()).toBe(3 * DAY - 3_600_000);
  });

  it('the warning window defaults to 1/6 of the lifetime and never exceeds the renewal window', () => {
    expect(warnWindowMs(life(90))).toBe(15 * DAY);
    expect(warnWindowMs(life(90), { warnBeforeMs: 60 * DAY })).toBe(30 * DAY);
  });

  it('retries 1, 2, 5, 10 … × the minimum, up to the maximum (1 min → 6 h by default)', () => {
    const mid = () => 0.5;
    const minute = 60_000;
    const steps = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20].map(
      (n) => retryDelayMs(n, minute, 360 * minute, mid) / minute,
    );
    expect(steps).toEqual([1, 2, 5, 10, 20, 30, 60, 120, 180, 360, 360, 360]);
    expect(retryDelayMs(3, 1000, 3000, mid)).toBe(3000);
    expect(retryDelayMs(1, minute, 360 * minute, () => 0)).toBe(54_000);
  });
});
