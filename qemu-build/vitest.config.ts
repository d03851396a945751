import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    // One file at a time: suites.test.ts compares timing-sensitive tests run one side after
    // the other, and a kernel booting beside only one side would skew the comparison.
    fileParallelism: false,
  },
});
