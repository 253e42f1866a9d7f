import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot, runToEnd } from '../support/processes.js';

it('README configuration reference matches the env declarations', async () => {
  const result = await runToEnd(['node', '--import', 'tsx', join(repoRoot, 'scripts/config-docs.ts'), '--check']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
});
