import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The guest build cache in ~/.cache/iohang and a TCG guest on 2 cores: one file at a time.
    fileParallelism: false,
  },
});
