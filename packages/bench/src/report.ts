/**
 * The JSON the docs site renders (docs/data/bench.json; docs/scripts/lib/bench.ts reads it):
 * one figure per benchmark, each series the raw per-repetition values.
 */
import { z } from 'zod';

export const seriesSchema = z.strictObject({
  label: z.string().min(1),
  /** Raw per-repetition values; empty for a row that cannot be measured (yet). */
  values: z.array(z.number().finite()),
});

export const figureSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/),
  title: z.string().min(1),
  description: z.string(),
  unit: z.string().min(1),
  series: z.array(seriesSchema).min(1),
  summary: z.string(),
});

export const reportSchema = z
  .strictObject({
    date: z.string().min(1),
    host: z.string().min(1),
    qemu: z.string().min(1),
    figures: z.array(figureSchema),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.figures.forEach((f, i) => {
      if (seen.has(f.id)) ctx.addIssue({ code: 'custom', path: ['figures', i, 'id'], message: `repeats ${f.id}` });
      seen.add(f.id);
    });
  });

export type BenchSeries = z.infer<typeof seriesSchema>;
export type BenchFigure = z.infer<typeof figureSchema>;
export type BenchReport = z.infer<typeof reportSchema>;

/** Check a report against the schema; the error names the offending fields. */
export function validateReport(data: unknown): BenchReport {
  const r = reportSchema.safeParse(data);
  if (!r.success) throw new Error(`bench report does not match the schema:\n${z.prettifyError(r.error)}`);
  return r.data;
}

/** The report as written to disk: validated, keys in schema order, numbers rounded sensibly. */
export function reportJson(report: BenchReport): string {
  const r = validateReport(report);
  const round = (v: number) => Number(v.toPrecision(6));
  const ordered = {
    date: r.date,
    host: r.host,
    qemu: r.qemu,
    figures: r.figures.map((f) => ({
      id: f.id,
      title: f.title,
      description: f.description,
      unit: f.unit,
      series: f.series.map((s) => ({ label: s.label, values: s.values.map(round) })),
      summary: f.summary,
    })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
