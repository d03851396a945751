import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests share ~/.cache/iohang trees; run files one at a time.
    fileParallelism: false,
  },
});
