export * from './demo.ts';
export * from './timeline.ts';
