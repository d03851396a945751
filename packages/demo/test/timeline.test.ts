import { describe, expect, it } from 'vitest';
import { renderTimelineHtml, renderTimelineSvg, type TimelineData } from '../src/index.ts';

const data: TimelineData = {
  title: 'a <test> & its timeline',
  outage: { startMs: 2000, endMs: 6000 },
  disks: [
    {
      title: '/dev/vda: I/O hang on',
      requests: [
        { tMs: 0, latMs: 0.8, ok: true },
        { tMs: 2100, latMs: 4100, ok: true },
        { tMs: 6300, latMs: 1.2, ok: true },
      ],
      events: [
        { tMs: 2150, label: 'BLOCK_IO_HANG(true)' },
        { tMs: 6200, label: 'BLOCK_IO_HANG(false)' },
      ],
    },
    {
      title: '/dev/vdb: I/O hang off',
      requests: [
        { tMs: 0, latMs: 0.9, ok: true },
        { tMs: 2100, latMs: 2, ok: false },
        { tMs: 2200, latMs: 2, ok: false },
      ],
      events: [
        { tMs: 2102, label: 'BLOCK_IO_ERROR' },
        { tMs: 2202, label: 'BLOCK_IO_ERROR' },
      ],
    },
  ],
};

/** The x coordinates of the elements matching `re` (first capture group). */
const xs = (svg: string, re: RegExp) => [...svg.matchAll(re)].map((m) => Number(m[1]));

describe('timeline', () => {
  const svg = renderTimelineSvg(data);
  const panels = svg.split('<g class="disk"').slice(1);

  it('draws one panel per disk, each with its outage band, requests and events', () => {
    expect(panels).toHaveLength(2);
    expect(panels[0]).toContain('data-disk="/dev/vda: I/O hang on"');
    expect(panels[0]!.match(/class="req ok"/g)).toHaveLength(3);
    expect(panels[0]).not.toContain('class="req error"');
    expect(panels[1]!.match(/class="req error"/g)).toHaveLength(2);
    expect(panels[1]).toContain('BLOCK_IO_ERROR x2');
    expect(panels[0]).toContain('data-event="BLOCK_IO_HANG(true)"');
    expect(panels[0]).toContain('data-event="BLOCK_IO_HANG(false)"');
  });

  it('places requests and events in time: the stall starts inside the outage band, recovery after it', () => {
    const [band] = xs(panels[0]!, /class="outage" x="([\d.]+)"/g);
    const bandWidth = Number(/class="outage" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/.exec(panels[0]!)![1]);
    const [first, stalled, after] = xs(panels[0]!, /class="req ok" cx="([\d.]+)"/g);
    expect(first).toBeLessThan(band!);
    expect(stalled).toBeGreaterThan(band!);
    expect(after).toBeGreaterThan(band! + bandWidth);
    const [set, cleared] = xs(panels[0]!, /class="event" data-event="[^"]+" x1="([\d.]+)"/g);
    expect(set).toBeGreaterThan(band!);
    expect(cleared).toBeGreaterThan(band! + bandWidth);
  });

  it('puts a long stall higher than a fast request (latency axis)', () => {
    const ys = xs(panels[0]!, /class="req ok" cx="[\d.]+" cy="([\d.]+)"/g);
    expect(ys[1]).toBeLessThan(ys[0]!);
    expect(ys[1]).toBeLessThan(ys[2]!);
  });

  it('escapes text, and the HTML page carries the SVG and the verdict table', () => {
    expect(svg).toContain('a &lt;test&gt; &amp; its timeline');
    expect(svg).not.toContain('<test>');
    const html = renderTimelineHtml(data, 'disk  I/O hang\n/dev/vda  on');
    expect(html).toContain('<svg');
    expect(html).toContain('/dev/vda  on');
  });
});
