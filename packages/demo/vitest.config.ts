import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 600_000,
    // Each file boots QEMU under TCG; two at once on 2 cores only slows both down.
    fileParallelism: false,
  },
});
