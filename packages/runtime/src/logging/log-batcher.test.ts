import { describe, expect, it } from 'vitest';
import { LogBatcher } from './log-batcher.js';

const afterWindow = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('LogBatcher', () => {
  it('hands the records of one window on as one write, in order, once the window has passed', async () => {
    const writes: string[] = [];
    const c = new LogBatcher((batch) => writes.push(batch));
    c.write('a\n');
    c.write('b\n');
    c.write('c\n');
    expect(writes).toEqual([]);
    await afterWindow();
    expect(writes).toEqual(['a\nb\nc\n']);
    c.write('d\n');
    await afterWindow();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('writes at once on flushSync (every exit path), and nothing twice', async () => {
    const writes: string[] = [];
    const c = new LogBatcher((batch) => writes.push(batch));
    c.write('last words\n');
    c.flushSync();
    expect(writes).toEqual(['last words\n']);
    await afterWindow();
    c.flushSync();
    expect(writes).toEqual(['last words\n']);
  });

  it('does not hold a burst past its bound until the window ends', () => {
    const writes: string[] = [];
    const c = new LogBatcher((batch) => writes.push(batch), 10, 10);
    for (let i = 0; i < 5; i++) c.write('12345\n');
    expect(writes).toEqual(['12345\n12345\n', '12345\n12345\n']);
    c.flushSync();
    expect(writes).toHaveLength(3);
  });
});
