import { defineConfig } from 'vitest/config';

/**
 * Tests that boot VMs under TCG, build guests or share ~/.cache/iohang trees: generous
 * timeouts, and one file at a time (two VMs at once on 2 cores only slow each other down).
 */
export const sequentialTests = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
