export * from './blkdebug.ts';
export * from './fault.ts';
export * from './nbdkit.ts';
export * from './ops.ts';
export * from './nbdfuse.ts';
export * from './netns-link.ts';
export * from './netns-nbd.ts';
export * from './netns-iscsi.ts';
export { IohangError } from '@iohang/core';
