export * from './client.ts';
export * from './commands.ts';
export * from './errors.ts';
export * from './event-log.ts';
export * from './lines.ts';
export * from './schema.ts';
