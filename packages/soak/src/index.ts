export * from './soak.ts';
