import { describe, expect, it } from 'vitest';
import { textTable } from '../src/index.ts';

describe('textTable', () => {
  it('pads columns to their widest cell, with a rule under the head', () => {
    expect(textTable(['a', 'long head'], [['1', '2'], ['333', '4']])).toEqual(['a    long head', '---  ---------', '1    2', '333  4']);
  });

  it('has no head and no rule when the head is empty, and takes short rows', () => {
    expect(textTable([], [['x', 'yy', 'z'], ['longer']])).toEqual(['x       yy  z', 'longer']);
  });
});
