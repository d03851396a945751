/** One `[n/m]` status line from ninja. */
export interface NinjaStep {
  done: number;
  total: number;
  description: string;
}

export function parseNinjaLine(line: string): NinjaStep | undefined {
  const m = /^\[(\d+)\/(\d+)\]\s?(.*)$/.exec(line);
  if (!m) return undefined;
  const done = Number(m[1]);
  const total = Number(m[2]);
  if (total === 0 || done > total) return undefined;
  return { done, total, description: m[3]! };
}

export function progressBar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor((done / total) * 100)).padStart(3)}% ${done}/${total}`;
}

/**
 * Shows ninja's progress: a bar redrawn in place on a terminal, or a line every 10%
 * elsewhere (CI logs), so long builds show life without flooding the log.
 */
export class ProgressReporter {
  private lastDecile = -1;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(out.isTTY),
  ) {}

  update(step: NinjaStep): void {
    if (this.tty) {
      const cols = this.out.columns ?? 100;
      const line = `${this.label} ${progressBar(step.done, step.total)} ${step.description}`;
      this.out.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
      return;
    }
    const decile = Math.floor((step.done / step.total) * 10);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.out.write(`${this.label} ${progressBar(step.done, step.total)}\n`);
    }
  }

  finish(): void {
    if (this.tty) this.out.write('\n');
  }
}
