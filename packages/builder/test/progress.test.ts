import { describe, expect, it } from 'vitest';
import { parseNinjaLine, progressBar, ProgressReporter } from '../src/index.ts';

describe('parseNinjaLine', () => {
  it('reads [n/m] status lines', () => {
    expect(parseNinjaLine('[537/1599] Compiling C object libqemuutil.a.p/util_x.c.o')).toEqual({ done: 537, total: 1599, description: 'Compiling C object libqemuutil.a.p/util_x.c.o' });
    expect(parseNinjaLine('[1/1] ')).toEqual({ done: 1, total: 1, description: '' });
  });

  it('ignores compiler output and nonsense counts', () => {
    expect(parseNinjaLine('../block/block-backend.c:10: warning: unused')).toBeUndefined();
    expect(parseNinjaLine('ninja: no work to do.')).toBeUndefined();
    expect(parseNinjaLine('[5/0] x')).toBeUndefined();
    expect(parseNinjaLine('[9/3] x')).toBeUndefined();
  });
});

describe('progress output', () => {
  it('draws a bar', () => {
    expect(progressBar(1, 2, 10)).toBe('[#####.....]  50% 1/2');
    expect(progressBar(1599, 1599, 4)).toBe('[####] 100% 1599/1599');
  });

  it('prints the start, then one line per 10%, when not on a terminal', () => {
    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WriteStream;
    const r = new ProgressReporter('qemu', out, false);
    for (let i = 1; i <= 200; i++) r.update({ done: i, total: 200, description: 'x' });
    r.finish();
    expect(lines).toHaveLength(11);
    expect(lines[0]).toContain('0% 1/200');
    expect(lines.at(-1)).toContain('100% 200/200');
  });

  it('redraws in place on a terminal', () => {
    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s), isTTY: true, columns: 80 } as unknown as NodeJS.WriteStream;
    const r = new ProgressReporter('qemu', out, true);
    r.update({ done: 1, total: 2, description: 'Compiling' });
    r.finish();
    expect(lines[0]!.startsWith('\r')).toBe(true);
    expect(lines[0]!.length).toBe(80);
    expect(lines[1]).toBe('\n');
  });
});
