import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Real processes and daemons: forks isolate signal handlers and process-wide state.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file owns its processes, ports and temp dirs, so files can run side by side.
    fileParallelism: true,
  },
});
