import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The real-QEMU tests spawn VMs; one file at a time keeps the load modest.
    fileParallelism: false,
  },
});
