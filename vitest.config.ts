import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Every image is built once, before the files that use them run side by side.
    globalSetup: ['test/global-setup.ts'],
    // Real processes and daemons: forks isolate signal handlers and process-wide state.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file owns its processes, ports and temp dirs, so files can run side by side.
    fileParallelism: true,
  },
});
