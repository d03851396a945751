export * from './agent-protocol.ts';
export * from './apt.ts';
export * from './busybox.ts';
export * from './disk.ts';
export * from './initramfs.ts';
export * from './iotool.ts';
export * from './kernel.ts';
export * from './modules.ts';
