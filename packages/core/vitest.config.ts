export { sequentialTests as default } from '../../vitest.shared.ts';
