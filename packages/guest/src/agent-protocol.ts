/**
 * The guest command agent's wire protocol, host side. The guest side is
 * initramfs/agent.sh; keep the two descriptions in sync.
 *
 * Channel: the guest's second serial port, /dev/ttyS1 (ttyS0 is the console). The agent
 * sets it raw with no echo, so bytes pass unchanged and lines end in a bare "\n".
 *
 * 1. Guest -> host, once: `@@IOHANG-AGENT-READY`. Send nothing before it.
 * 2. Host -> guest, one line per command: `<id> <base64 of the shell command>\n`, id a
 *    decimal integer that is unique among commands still running. Other lines are ignored.
 * 3. The guest runs every command concurrently in the background (a command may block for
 *    minutes on hung disk I/O while others are answered): `sh -c CMD`, stdin /dev/null,
 *    stdout and stderr together into one file.
 * 4. Guest -> host, when the command ends, as one block that never interleaves with another
 *    (the agent writes it under flock):
 *      @@IOHANG-BEGIN <id>
 *      <base64 of the output, wrapped over any number of lines>
 *      @@IOHANG-END <id> <exit code>
 *    Results arrive in completion order, not request order. Anything outside a block is noise.
 */

export const AGENT_READY = '@@IOHANG-AGENT-READY';

export interface AgentResult {
  id: number;
  exitCode: number;
  /** stdout and stderr, decoded as UTF-8 */
  output: string;
  /** the same output, byte for byte */
  bytes: Buffer;
}

/** One request line for the agent. */
export function encodeRequest(id: number, cmd: string): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`agent request id must be a non-negative integer, got ${id}`);
  return `${id} ${Buffer.from(cmd, 'utf8').toString('base64')}\n`;
}

const BEGIN = /@@IOHANG-BEGIN (\d+)\s*$/;
const END = /@@IOHANG-END (\d+) (\d+)\s*$/;
/** A line longer than this without "\n" is noise; keep only its end, where a marker could be. */
const MAX_PARTIAL_LINE = 1 << 20;

/**
 * Incremental parser for what the agent writes: feed chunks as they arrive (split
 * anywhere), get each result once its END line is complete.
 */
export class AgentOutputParser {
  /** How many READY lines have been seen: one per boot of the guest. */
  readyCount = 0;
  private partial = '';
  private block: { id: number; base64: string[] } | undefined;

  /** Whether the agent has said READY. */
  get ready(): boolean {
    return this.readyCount > 0;
  }

  push(chunk: string | Uint8Array): AgentResult[] {
    // latin1 maps each byte to one char, so a chunk boundary inside a multi-byte sequence is harmless.
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    if (this.partial.length > MAX_PARTIAL_LINE) this.partial = this.partial.slice(-1024);
    const results: AgentResult[] = [];
    for (const line of lines) {
      const result = this.line(line.trimEnd());
      if (result) results.push(result);
    }
    return results;
  }

  private line(line: string): AgentResult | undefined {
    const begin = BEGIN.exec(line);
    if (begin) {
      // A BEGIN inside a block means the previous block was cut off; start over.
      this.block = { id: Number(begin[1]), base64: [] };
      return undefined;
    }
    const end = END.exec(line);
    if (end) {
      const block = this.block;
      this.block = undefined;
      if (!block || block.id !== Number(end[1])) return undefined;
      const bytes = Buffer.from(block.base64.join(''), 'base64');
      return { id: block.id, exitCode: Number(end[2]), output: bytes.toString('utf8'), bytes };
    }
    if (line.endsWith(AGENT_READY)) this.readyCount++;
    else if (this.block) this.block.base64.push(line.trim());
    return undefined;
  }
}

/**
 * Parse agent output: the results completed by `buffer`. Pass the same `parser` with each
 * chunk to parse a stream incrementally; without one, `buffer` is parsed on its own.
 */
export function parseAgentOutput(buffer: string | Uint8Array, parser = new AgentOutputParser()): AgentResult[] {
  return parser.push(buffer);
}
