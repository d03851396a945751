import { IohangError } from '@iohang/builder';
import type { QmpClient } from '@iohang/qmp';
import { ERRNO, type ErrnoName, type IoOp } from './ops.ts';

/**
 * blkdebug rules fire only after a debug *event* on their node activates them, and the
 * event must be one the node sees for that request type. Discard fires none, so discard
 * faults need the nbdkit backend.
 */
const RULE: Record<Exclude<IoOp, 'discard'>, { event: string; iotype: string }> = {
  read: { event: 'read_aio', iotype: 'read' },
  write: { event: 'pwritev', iotype: 'write' },
  'write-zeroes': { event: 'pwritev_zero', iotype: 'write-zeroes' },
  flush: { event: 'flush_to_disk', iotype: 'flush' },
};

export interface BlkdebugTarget {
  /** The format node whose `file` child is swapped (raw or qcow2). */
  formatNode: string;
  formatDriver: 'raw' | 'qcow2';
  /** Its current protocol child (stays in the graph under the filter). */
  protocolNode: string;
}

export interface BlkdebugFaultOptions {
  ops: IoOp[];
  errno?: ErrnoName;
  /** Fail this many requests, then let everything through (one op only). */
  failTimes?: number;
}

/** The blkdebug options for a fault: rules that keep firing, or a K-failure state machine. */
export function blkdebugRules(opts: BlkdebugFaultOptions) {
  const errno = ERRNO[opts.errno ?? 'EIO'];
  const rules = opts.ops.map((op) => {
    if (op === 'discard') throw new IohangError('blkdebug cannot fail discards (no debug event activates the rule)', 'Use the nbdkit backend for discard faults');
    return RULE[op];
  });
  if (rules.length === 0) throw new IohangError('a fault needs at least one operation', `Pass ops, e.g. ['write']`);
  if (opts.failTimes === undefined) return { 'inject-error': rules.map((r) => ({ ...r, errno })) };
  if (rules.length !== 1 || !Number.isInteger(opts.failTimes) || opts.failTimes < 1) {
    throw new IohangError(`failTimes needs exactly one operation and a whole number >= 1 (got ops=${opts.ops.join(',')}, failTimes=${opts.failTimes})`, 'Use one fault per operation');
  }
  // One once-rule per state, each failure moving to the next state: exactly K failures.
  const [r] = rules as [{ event: string; iotype: string }];
  const states = Array.from({ length: opts.failTimes }, (_, i) => i + 1);
  return {
    'inject-error': states.map((state) => ({ ...r, errno, state, once: true })),
    'set-state': states.map((state) => ({ event: r.event, state, new_state: state + 1 })),
  };
}

let counter = 0;

/**
 * Errors on a running disk, from QMP alone: a blkdebug node is added over the protocol
 * node and swapped in as the format node's `file` child with blockdev-reopen; stop() swaps
 * the original child back and deletes the filter. (blkdebug's rules cannot be changed after
 * open, so inserting and removing the node is the switch.)
 */
export class BlkdebugFault {
  private constructor(
    private readonly qmp: QmpClient,
    private readonly target: BlkdebugTarget,
    readonly nodeName: string,
  ) {}

  static async start(qmp: QmpClient, target: BlkdebugTarget, opts: BlkdebugFaultOptions): Promise<BlkdebugFault> {
    const nodeName = `iohang-dbg${++counter}`;
    await qmp.execute('blockdev-add', { driver: 'blkdebug', 'node-name': nodeName, image: target.protocolNode, ...blkdebugRules(opts) });
    try {
      await qmp.execute('blockdev-reopen', { options: [{ driver: target.formatDriver, 'node-name': target.formatNode, file: nodeName }] });
    } catch (e) {
      await qmp.execute('blockdev-del', { 'node-name': nodeName }).catch(() => undefined);
      throw e;
    }
    return new BlkdebugFault(qmp, target, nodeName);
  }

  async stop(): Promise<void> {
    await this.qmp.execute('blockdev-reopen', { options: [{ driver: this.target.formatDriver, 'node-name': this.target.formatNode, file: this.target.protocolNode }] });
    await this.qmp.execute('blockdev-del', { 'node-name': this.nodeName });
  }
}
