import { describe, expect, it } from 'vitest';
import { LogBuffer } from './log-buffer.js';

describe('LogBuffer', () => {
  it('keeps the newest lines, at most `capacity` of them', () => {
    const b = new LogBuffer(3, 1_000);
    b.write('a\nb\n');
    b.write('c\nd\n');
    expect(b.last(10)).toEqual(['b', 'c', 'd']);
    expect(b.last(2)).toEqual(['c', 'd']);
  });

  it('holds no more than `maxBytes`, dropping the oldest lines first', () => {
    const b = new LogBuffer(1_000, 100);
    for (let i = 0; i < 50; i++) b.write(`${String(i).padStart(2, '0')}${'x'.repeat(18)}\n`); // 20 bytes each
    const kept = b.last(1_000);
    expect(kept).toHaveLength(5);
    expect(kept[0]?.startsWith('45')).toBe(true);
    expect(kept.join('').length).toBeLessThanOrEqual(100);
  });

  it('cuts a line longer than the whole buffer to fit, and still hands followers every line', () => {
    const b = new LogBuffer(10, 64);
    const seen: string[] = [];
    b.follow((line) => seen.push(line));
    b.write(`${'y'.repeat(500)}\nshort\n`);
    expect(b.last(10).join('').length).toBeLessThanOrEqual(64);
    expect(b.last(1)).toEqual(['short']);
    expect(seen).toHaveLength(2);
  });

  it('numbers each line, and tells a reader resuming after a line what follows and how much it missed', () => {
    const b = new LogBuffer(3, 1_000);
    const followed: number[] = [];
    b.follow((_line, seq) => followed.push(seq));
    b.write('a\nb\n');
    expect(b.since(1)).toEqual({ entries: [{ seq: 2, line: 'b' }], missed: 0 });
    b.write('c\nd\ne\n');
    expect(followed).toEqual([1, 2, 3, 4, 5]);
    // Kept: 3, 4, 5. From 1, line 2 is gone; from 4, only 5 follows; from 5, nothing.
    expect(b.since(1)).toEqual({
      entries: [
        { seq: 3, line: 'c' },
        { seq: 4, line: 'd' },
        { seq: 5, line: 'e' },
      ],
      missed: 1,
    });
    expect(b.since(4)).toEqual({ entries: [{ seq: 5, line: 'e' }], missed: 0 });
    expect(b.since(5)).toEqual({ entries: [], missed: 0 });
    expect(b.lastEntries(2)).toEqual([
      { seq: 4, line: 'd' },
      { seq: 5, line: 'e' },
    ]);
  });
});
