/** Statistics and plain-text tables for the benchmark figures. */

/**
 * Percentile p (0..1) of already sorted values, by linear interpolation between the closest
 * ranks (numpy's default, R type 7) -- the same rule the docs site uses for its tables.
 */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile must be within 0..1, got ${p}`);
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

export interface Summary {
  n: number;
  p10: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p10: percentileSorted(s, 0.1),
    median: percentileSorted(s, 0.5),
    p90: percentileSorted(s, 0.9),
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
  };
}

/** a / b; NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/**
 * Paired ratios of two series measured side by side (round i of A against round i of B),
 * and their median: the figure that survives a machine whose speed drifts between rounds.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): { ratios: number[]; median: number } {
  const n = Math.min(a.length, b.length);
  const ratios = Array.from({ length: n }, (_, i) => ratio(a[i]!, b[i]!)).filter(Number.isFinite);
  return { ratios, median: median(ratios) };
}

/** A number for a table: three significant digits, no exponent, "-" for none. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a >= 10 ** digits || Number.isInteger(x)) return String(Math.round(x));
  return Number(x.toPrecision(digits)).toString();
}

/** A ratio as "1.03x", "-" for none. */
export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(3)}x` : '-';
}

