/**
 * The demo's timeline: per-request latency over time for each disk, the outage shaded and
 * the QAPI events marked, as a standalone SVG (and an HTML page around it).
 */

export interface TimelineRequest {
  /** When the request started, ms since the writers started. */
  tMs: number;
  latMs: number;
  ok: boolean;
}

export interface TimelineEvent {
  tMs: number;
  /** BLOCK_IO_HANG(true), BLOCK_IO_HANG(false), BLOCK_IO_HANG_TIMEOUT(true), BLOCK_IO_ERROR, ... */
  label: string;
}

export interface TimelineDisk {
  title: string;
  requests: TimelineRequest[];
  events: TimelineEvent[];
}

export interface TimelineData {
  title: string;
  outage: { startMs: number; endMs: number };
  disks: TimelineDisk[];
}

const WIDTH = 960;
const PANEL = 230;
const MARGIN = { left: 70, right: 20, top: 56, bottom: 40 };
/** Latency axis: log scale, 0.1 ms to 100 s. */
const LAT_DECADES = [0.1, 1, 10, 100, 1000, 10_000, 100_000];
const COLORS = { ok: '#2563eb', error: '#dc2626', outage: '#f59e0b', hang: '#ea580c', recovered: '#16a34a', timeout: '#7c3aed', text: '#1f2937', grid: '#e5e7eb' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (n: number) => String(Math.round(n * 10) / 10);

function eventColor(label: string): string {
  if (label.startsWith('BLOCK_IO_HANG_TIMEOUT')) return COLORS.timeout;
  if (label === 'BLOCK_IO_HANG(true)') return COLORS.hang;
  if (label === 'BLOCK_IO_HANG(false)') return COLORS.recovered;
  return COLORS.error;
}

function niceStep(spanS: number): number {
  return [1, 2, 5, 10, 20, 30, 60, 120].find((s) => spanS / s <= 12) ?? 300;
}

export function renderTimelineSvg(data: TimelineData): string {
  const ends = data.disks.flatMap((d) => [...d.requests.map((r) => r.tMs + r.latMs), ...d.events.map((e) => e.tMs)]);
  const spanMs = Math.max(data.outage.endMs, ...ends, 1000) * 1.03;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const height = MARGIN.top + data.disks.length * PANEL + MARGIN.bottom;
  const x = (ms: number) => MARGIN.left + (Math.max(0, ms) / spanMs) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${esc(data.title)}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="600" fill="${COLORS.text}">${esc(data.title)}</text>`,
    legend(),
  ];
  for (const [i, disk] of data.disks.entries()) {
    const top = MARGIN.top + i * PANEL;
    const bottom = top + PANEL - 34;
    const lo = Math.log10(LAT_DECADES[0]!);
    const hi = Math.log10(LAT_DECADES.at(-1)!);
    const y = (latMs: number) => bottom - ((Math.log10(Math.max(latMs, LAT_DECADES[0]!)) - lo) / (hi - lo)) * (bottom - top - 18);
    out.push(`<g class="disk" data-disk="${esc(disk.title)}">`);
    out.push(`<text x="${MARGIN.left}" y="${top + 8}" font-weight="600" fill="${COLORS.text}">${esc(disk.title)}</text>`);
    out.push(`<rect class="outage" x="${num(x(data.outage.startMs))}" y="${top + 14}" width="${num(x(data.outage.endMs) - x(data.outage.startMs))}" height="${num(bottom - top - 14)}" fill="${COLORS.outage}" fill-opacity="0.18"/>`);
    for (const d of LAT_DECADES) {
      const label = d < 1000 ? `${d} ms` : `${d / 1000} s`;
      out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${num(y(d))}" y2="${num(y(d))}" stroke="${COLORS.grid}"/>`);
      out.push(`<text x="${MARGIN.left - 6}" y="${num(y(d) + 4)}" text-anchor="end" fill="#6b7280">${label}</text>`);
    }
    for (const r of disk.requests) {
      const cx = num(x(r.tMs));
      const cy = num(y(r.latMs));
      // A stall long enough to see on the time axis also shows how long it lasted.
      if (x(r.tMs + r.latMs) - x(r.tMs) > 4) {
        out.push(`<line class="stall" x1="${cx}" x2="${num(x(r.tMs + r.latMs))}" y1="${cy}" y2="${cy}" stroke="${r.ok ? COLORS.ok : COLORS.error}" stroke-opacity="0.5" stroke-width="2"/>`);
      }
      out.push(
        r.ok
          ? `<circle class="req ok" cx="${cx}" cy="${cy}" r="2.5" fill="${COLORS.ok}" fill-opacity="0.7"/>`
          : `<path class="req error" d="M${num(+cx - 3)} ${num(+cy - 3)}l6 6m0 -6l-6 6" stroke="${COLORS.error}" stroke-width="1.8"/>`,
      );
    }
    for (const e of disk.events) {
      const ex = num(x(e.tMs));
      const color = eventColor(e.label);
      out.push(`<line class="event" data-event="${esc(e.label)}" x1="${ex}" x2="${ex}" y1="${top + 14}" y2="${num(bottom)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="4 3"/>`);
    }
    // Label each kind of event once per panel, at its first occurrence, so that a burst of
    // BLOCK_IO_ERROR events stays readable.
    const firsts = new Map<string, TimelineEvent>();
    for (const e of disk.events) if (!firsts.has(e.label)) firsts.set(e.label, e);
    for (const [k, [label, e]] of [...firsts].entries()) {
      const count = disk.events.filter((o) => o.label === label).length;
      const text = count > 1 ? `${label} x${count}` : label;
      out.push(`<text x="${num(x(e.tMs) + 4)}" y="${top + 26 + k * 13}" fill="${eventColor(label)}">${esc(text)}</text>`);
    }
    out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${num(bottom)}" y2="${num(bottom)}" stroke="#9ca3af"/>`);
    const step = niceStep(spanMs / 1000);
    for (let s = 0; s * 1000 <= spanMs; s += step) {
      out.push(`<text x="${num(x(s * 1000))}" y="${num(bottom + 14)}" text-anchor="middle" fill="#6b7280">${s} s</text>`);
    }
    out.push('</g>');
  }
  out.push(`<text x="${MARGIN.left}" y="${height - 8}" fill="#6b7280">x: when the request started (s since the writers started), a bar to when it completed · y: its latency (log scale) · shaded: the storage outage</text>`);
  out.push('</svg>');
  return out.join('\n');
}

function legend(): string {
  const items: [string, string][] = [
    ['request ok', COLORS.ok],
    ['request failed', COLORS.error],
    ['BLOCK_IO_HANG set', COLORS.hang],
    ['BLOCK_IO_HANG cleared', COLORS.recovered],
    ['timeout', COLORS.timeout],
    ['outage', COLORS.outage],
  ];
  let lx = MARGIN.left;
  return items
    .map(([label, color]) => {
      const item = `<rect x="${lx}" y="32" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="41" fill="${COLORS.text}">${label}</text>`;
      lx += 14 + label.length * 7 + 22;
      return item;
    })
    .join('');
}

/** A page with the timeline and the verdict table, for a browser. */
export function renderTimelineHtml(data: TimelineData, verdictTable: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(data.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2937}pre{background:#f3f4f6;padding:1rem;overflow:auto}</style>
</head><body>
<h1>${esc(data.title)}</h1>
${renderTimelineSvg(data)}
<h2>Verdict</h2>
<pre>${esc(verdictTable)}</pre>
</body></html>
`;
}
