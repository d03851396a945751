import { describe, expect, it } from 'vitest';
import { AGENT_READY, AgentOutputParser, encodeRequest, parseAgentOutput } from '../src/index.ts';

/** What the guest writes for one finished command (busybox base64 wraps at 76 columns). */
function block(id: number, output: Buffer | string, exitCode: number): string {
  const b64 = Buffer.from(output).toString('base64');
  const lines = b64.match(/.{1,76}/g) ?? [];
  return [`@@IOHANG-BEGIN ${id}`, ...lines, `@@IOHANG-END ${id} ${exitCode}`, ''].join('\n');
}

describe('encodeRequest', () => {
  it('is "<id> <base64>\\n" with the command as UTF-8', () => {
    expect(encodeRequest(7, 'echo hi')).toBe(`7 ${Buffer.from('echo hi').toString('base64')}\n`);
    const line = encodeRequest(12, "printf 'ä\\n' | cat; exit 3");
    expect(line.endsWith('\n')).toBe(true);
    const [id, b64] = line.trimEnd().split(' ');
    expect(id).toBe('12');
    expect(Buffer.from(b64!, 'base64').toString('utf8')).toBe("printf 'ä\\n' | cat; exit 3");
  });

  it('rejects ids the agent would ignore', () => {
    expect(() => encodeRequest(-1, 'true')).toThrow(RangeError);
    expect(() => encodeRequest(1.5, 'true')).toThrow(RangeError);
  });
});

describe('parseAgentOutput', () => {
  const stream = `${AGENT_READY}\n` + block(1, 'hello\n', 0) + block(22, 'line1\nline2\n'.repeat(40), 3);

  it('parses a whole buffer', () => {
    const parser = new AgentOutputParser();
    const results = parseAgentOutput(stream, parser);
    expect(parser.ready).toBe(true);
    expect(results.map((r) => [r.id, r.exitCode])).toEqual([
      [1, 0],
      [22, 3],
    ]);
    expect(results[0]!.output).toBe('hello\n');
    expect(results[1]!.output).toBe('line1\nline2\n'.repeat(40));
  });

  it('gives the same results whatever byte the stream is split at', () => {
    const bytes = Buffer.from(stream);
    for (let at = 0; at <= bytes.length; at++) {
      const parser = new AgentOutputParser();
      const results = [...parseAgentOutput(bytes.subarray(0, at), parser), ...parseAgentOutput(bytes.subarray(at), parser)];
      expect(results.map((r) => [r.id, r.exitCode, r.output])).toEqual([
        [1, 0, 'hello\n'],
        [22, 3, 'line1\nline2\n'.repeat(40)],
      ]);
      expect(parser.ready).toBe(true);
    }
  });

  it('survives being fed one byte at a time', () => {
    const parser = new AgentOutputParser();
    const results = [...Buffer.from(stream)].flatMap((b) => parser.push(Uint8Array.of(b)));
    expect(results.map((r) => r.id)).toEqual([1, 22]);
  });

  it('ignores blank lines, garbage and CRs between blocks, and cut-off blocks', () => {
    const noisy = [
      '\x00\xff garbage before ready',
      `noise${AGENT_READY}\r`,
      '',
      'random text @@IOHANG-END 5 0', // an END without its BEGIN
      '@@IOHANG-BEGIN 9', // a block cut off by the next BEGIN
      'AAAA',
      block(2, 'two', 1).replaceAll('\n', '\r\n'),
      '   ',
      '@@IOHANG-BEGIN 3',
      '@@IOHANG-END 4 0', // END for another id: the block is dropped
      block(5, '', 0),
    ].join('\n');
    const parser = new AgentOutputParser();
    const results = parseAgentOutput(noisy, parser);
    expect(parser.ready).toBe(true);
    expect(results.map((r) => [r.id, r.exitCode, r.output])).toEqual([
      [2, 1, 'two'],
      [5, 0, ''],
    ]);
  });

  it('returns two results that arrive in one chunk, in arrival order', () => {
    const results = parseAgentOutput(block(8, 'late', 0) + block(3, 'early', 0));
    expect(results.map((r) => r.id)).toEqual([8, 3]);
  });

  it('keeps non-zero exit codes', () => {
    expect(parseAgentOutput(block(1, 'No such file\n', 127))[0]).toMatchObject({ id: 1, exitCode: 127 });
    expect(parseAgentOutput(block(2, '', 255))[0]).toMatchObject({ id: 2, exitCode: 255 });
  });

  it('returns binary output byte for byte', () => {
    const binary = Buffer.from([...Array(256).keys()].concat([0, 10, 13, 0xff]));
    const [r] = parseAgentOutput(block(4, binary, 0));
    expect(r!.bytes.equals(binary)).toBe(true);
    expect(parseAgentOutput(block(5, 'grüße ✓\n', 0))[0]!.output).toBe('grüße ✓\n');
  });
});
