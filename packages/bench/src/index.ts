export * from './bench.ts';
export * from './common.ts';
export * from './p1-fast-path.ts';
export * from './p2-stall.ts';
export * from './p3-cpu.ts';
export * from './p4-many-disks.ts';
export * from './report.ts';
export * from './stats.ts';
