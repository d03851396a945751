export * from './daemon.ts';
export * from './dispose.ts';
export * from './errors.ts';
export * from './paths.ts';
export * from './processes.ts';
export * from './qemu-paths.ts';
export * from './table.ts';
export * from './time.ts';
