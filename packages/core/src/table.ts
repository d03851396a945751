/**
 * A plain-text table, as lines: columns padded to their widest cell, two spaces apart,
 * and a dashed rule under the head (no head and no rule when `head` is empty).
 */
export function textTable(head: string[], rows: string[][]): string[] {
  const all = [head, ...rows];
  const columns = Math.max(...all.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [...(head.length ? [line(head), line(widths.map((w) => '-'.repeat(w)))] : []), ...rows.map(line)];
}
