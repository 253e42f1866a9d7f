import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runToEnd } from '../support/processes.js';

/** Type-checks one fixture with the repo's own compiler options. */
function typecheck(fixture: 'forgot-return' | 'returns') {
  const config = join(repoRoot, 'test/fixtures/types', `tsconfig.${fixture}.json`);
  return runToEnd(['node', join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', config], {}, 60_000);
}

describe('BaseService lifecycle types', () => {
  it('make a step that forgets to return a compile error', async () => {
    const result = await typecheck('forgot-return');
    expect(result.code).not.toBe(0);
    // Promise<void> is not Promise<boolean>, and a missed branch is an implicit return.
    expect(result.stdout).toMatch(/forgot-return\.ts\(5,\d+\): error TS2416: Property 'configure'/);
    expect(result.stdout).toMatch(/forgot-return\.ts\(14,\d+\): error TS(7030|2366)/);
  });

  it('accept a step that always returns a boolean', async () => {
    const result = await typecheck('returns');
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });
});
