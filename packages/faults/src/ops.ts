/** The request types a fault can target. */
export const IO_OPS = ['read', 'write', 'flush', 'write-zeroes', 'discard'] as const;
export type IoOp = (typeof IO_OPS)[number];

export const ERRNO = { EIO: 5, ENOSPC: 28, EPERM: 1, EINVAL: 22, ENOMEM: 12, ESHUTDOWN: 108, ETIMEDOUT: 110 } as const;
export type ErrnoName = keyof typeof ERRNO;
