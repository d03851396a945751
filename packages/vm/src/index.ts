export * from './args.ts';
export * from './processes.ts';
export * from './qemu-paths.ts';
export * from './vm.ts';
export * from './memory.ts';
