import { AgentOutputParser, encodeRequest, type AgentResult } from './agent-protocol.ts';

/**
 * The host end of the agent's channel (the protocol is in agent-protocol.ts): each command
 * gets an id unique among those running and its result when the agent sends it, and the
 * agent's READY lines are counted, one per boot of the guest. Time limits and what to do
 * when QEMU dies are the owner's (the VM's) business.
 */
export class AgentChannel {
  private readonly parser = new AgentOutputParser();
  private readonly pending = new Map<number, (r: AgentResult) => void>();
  private readonly readyWaiters = new Set<() => void>();
  private nextId = 1;

  /** `send` writes one request line to the agent's serial port. */
  constructor(private readonly send: (line: string) => void) {}

  /** How many times the agent has said READY: the guest's boots so far. */
  get boots(): number {
    return this.parser.readyCount;
  }

  /** Commands sent whose result has not come. */
  get running(): number {
    return this.pending.size;
  }

  /** Feed what the agent wrote, in chunks split anywhere. */
  push(chunk: string | Uint8Array): void {
    const boots = this.boots;
    for (const r of this.parser.push(chunk)) {
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
    }
    if (this.boots > boots) for (const wake of this.readyWaiters) wake();
  }

  /** Resolves once the agent has said READY more than `boots` times (default: the first boot). */
  ready(boots = 0): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.boots <= boots) return;
        this.readyWaiters.delete(check);
        resolve();
      };
      this.readyWaiters.add(check);
      check();
    });
  }

  /**
   * Send `cmd`; `result` resolves with what it printed and its exit code. A command whose
   * result never comes (its guest rebooted or died) stays pending until `forget()`.
   */
  request(cmd: string): { result: Promise<AgentResult>; forget: () => void } {
    const id = this.nextId++;
    const result = new Promise<AgentResult>((resolve) => this.pending.set(id, resolve));
    this.send(encodeRequest(id, cmd));
    return { result, forget: () => this.pending.delete(id) };
  }
}
