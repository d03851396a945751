/**
 * Benchmark results (docs/data/bench.json, written by `npx iohang bench`; @iohang/bench's
 * report schema is the contract): validation,
 * per-series statistics and a small SVG dot plot per figure, drawn at build time.
 */
import { validateReport, type BenchFigure, type BenchReport } from '@iohang/bench/report';
import { GenerateError } from './patches.ts';

export type BenchData = BenchReport;

export interface SeriesStats {
  n: number;
  p10: number;
  median: number;
  p90: number;
  min: number;
  max: number;
}

/** bench.json checked against the schema `iohang bench` writes it by; the message names the file and the offending fields. */
export function validateBench(data: unknown, source: string): BenchData {
  try {
    return validateReport(data);
  } catch (e) {
    throw new GenerateError(`${source}: ${(e as Error).message}`);
  }
}

/** Percentile by linear interpolation between closest ranks (numpy's default, R type 7). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function stats(values: number[]): SeriesStats {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p10: percentile(s, 0.1),
    median: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    min: s[0] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
  };
}

/** Three significant digits, no exponent; "–" for no value. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100 || Number.isInteger(x)) return String(Math.round(x));
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return Number(x.toPrecision(3)).toString();
}

/** "Nice" axis ticks (1, 2, 5 x 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const start = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let t = start; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\{/g, '&#123;').replace(/\}/g, '&#125;');
}

/**
 * A horizontal dot plot: one row per series, every value a dot, a bar from p10 to p90 and a
 * tick at the median. Colours come from VitePress's CSS variables, so it follows dark mode.
 */
export function figureSvg(fig: BenchFigure): string {
  const rowH = 34;
  const left = 190;
  const right = 24;
  const top = 14;
  const width = 720;
  const plotW = width - left - right;
  const all = fig.series.flatMap((s) => s.values);
  const lo = Math.min(0, ...all);
  const hi = all.length ? Math.max(...all) : 1;
  const ticks = niceTicks(lo, hi);
  const x0 = ticks[0]!;
  const x1 = ticks[ticks.length - 1]!;
  const x = (v: number) => left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const height = top + fig.series.length * rowH + 44;
  const axisY = top + fig.series.length * rowH + 6;
  const parts: string[] = [];
  parts.push(`<svg class="bench-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="plot-${esc(fig.id)}-title" style="max-width:${width}px;font-family:var(--vp-font-family-base);font-size:12px">`);
  parts.push(`<title id="plot-${esc(fig.id)}-title">${esc(`${fig.id}: ${fig.title} (${fig.unit})`)}</title>`);
  for (const t of ticks) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${top - 4}" y2="${axisY}" style="stroke:var(--vp-c-divider);stroke-width:1"/>`);
    parts.push(`<text x="${tx}" y="${axisY + 16}" text-anchor="middle" style="fill:var(--vp-c-text-2)">${esc(fmt(t))}</text>`);
  }
  parts.push(`<text x="${(left + plotW / 2).toFixed(1)}" y="${axisY + 34}" text-anchor="middle" style="fill:var(--vp-c-text-2)">${esc(fig.unit)}</text>`);
  fig.series.forEach((s, i) => {
    const cy = top + i * rowH + rowH / 2;
    const st = stats(s.values);
    const label = s.label.length > 28 ? `${s.label.slice(0, 27)}…` : s.label;
    parts.push(`<text x="${left - 10}" y="${(cy + 4).toFixed(1)}" text-anchor="end" style="fill:var(--vp-c-text-1)">${esc(label)}</text>`);
    if (st.n === 0) return;
    parts.push(`<rect x="${x(st.p10).toFixed(1)}" y="${(cy - 7).toFixed(1)}" width="${Math.max(1, x(st.p90) - x(st.p10)).toFixed(1)}" height="14" rx="3" style="fill:var(--vp-c-brand-soft);stroke:var(--vp-c-brand-1);stroke-width:1"/>`);
    s.values.forEach((v, k) => {
      // Deterministic jitter so that equal values stay visible.
      const jy = (((k * 7919) % 13) / 12 - 0.5) * 10;
      parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${(cy + jy).toFixed(1)}" r="2.6" style="fill:var(--vp-c-brand-1);fill-opacity:0.55"/>`);
    });
    parts.push(`<line x1="${x(st.median).toFixed(1)}" x2="${x(st.median).toFixed(1)}" y1="${(cy - 11).toFixed(1)}" y2="${(cy + 11).toFixed(1)}" style="stroke:var(--vp-c-text-1);stroke-width:2.5"/>`);
  });
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${axisY}" y2="${axisY}" style="stroke:var(--vp-c-text-3);stroke-width:1"/>`);
  parts.push('</svg>');
  return parts.join('');
}
