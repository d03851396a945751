import { IohangError } from '@iohang/core';
import type { QmpClient } from '@iohang/qmp';
import type { Fault } from './fault.ts';
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
 * Errors on running disks, from QMP alone: a blkdebug node is added over each disk's
 * protocol node and swapped in as its format node's `file` child, all disks in one
 * blockdev-reopen transaction so that their storage fails at the same instant; end() swaps
 * the original children back the same way and deletes the filters. (blkdebug's rules
 * cannot be changed after open, so inserting and removing the nodes is the switch.)
 */
export class BlkdebugFault implements Fault {
  private readonly targets: BlkdebugTarget[];
  /** Checked here, so that a bad fault fails before it touches QEMU. */
  private readonly rules: ReturnType<typeof blkdebugRules>;
  private nodes: string[] = [];

  constructor(
    private readonly qmp: QmpClient,
    targets: BlkdebugTarget | BlkdebugTarget[],
    opts: BlkdebugFaultOptions,
  ) {
    this.targets = Array.isArray(targets) ? targets : [targets];
    if (this.targets.length === 0) throw new IohangError('a blkdebug fault needs at least one disk', 'Pass a target, e.g. blkdebugTarget(disk)');
    this.rules = blkdebugRules(opts);
  }

  /** A fault that is on: constructed and begun. */
  static async start(qmp: QmpClient, targets: BlkdebugTarget | BlkdebugTarget[], opts: BlkdebugFaultOptions): Promise<BlkdebugFault> {
    const fault = new BlkdebugFault(qmp, targets, opts);
    await fault.begin();
    return fault;
  }

  /** Whether the filters are in the graph. */
  get on(): boolean {
    return this.nodes.length > 0;
  }

  /** The blkdebug node of each disk while on, in the order of the targets. */
  get nodeNames(): string[] {
    return [...this.nodes];
  }

  async begin(): Promise<void> {
    if (this.on) return;
    const nodes: string[] = [];
    try {
      for (const target of this.targets) {
        const node = `iohang-dbg${++counter}`;
        await this.qmp.execute('blockdev-add', { driver: 'blkdebug', 'node-name': node, image: target.protocolNode, ...this.rules });
        nodes.push(node);
      }
      await this.qmp.execute('blockdev-reopen', { options: this.targets.map((t, i) => ({ driver: t.formatDriver, 'node-name': t.formatNode, file: nodes[i]! })) });
    } catch (e) {
      for (const node of nodes) await this.qmp.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
      throw e;
    }
    this.nodes = nodes;
  }

  /** Give the disks their storage back; when the reopen was sent and when QEMU answered it (host ms). */
  async end(): Promise<{ sentMs: number; restoredMs: number }> {
    const sentMs = Date.now();
    if (!this.on) return { sentMs, restoredMs: sentMs };
    await this.qmp.execute('blockdev-reopen', { options: this.targets.map((t) => ({ driver: t.formatDriver, 'node-name': t.formatNode, file: t.protocolNode })) });
    const restoredMs = Date.now();
    const nodes = this.nodes;
    this.nodes = [];
    for (const node of nodes) await this.qmp.execute('blockdev-del', { 'node-name': node });
    return { sentMs, restoredMs };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.end();
  }
}
