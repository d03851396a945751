export * from './args.ts';
export * from './vm.ts';
export * from './memory.ts';
