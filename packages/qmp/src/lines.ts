/**
 * Splits a byte stream into lines. QMP messages end with "\n" or "\r\n", and a read may end
 * anywhere, even inside a multi-byte UTF-8 character. Splitting on the 0x0A byte before
 * decoding is safe because that byte never occurs inside a multi-byte UTF-8 sequence.
 */
export class LineSplitter {
  #parts: Buffer[] = [];

  /** The complete, non-blank lines this chunk finishes, without their line terminators. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      this.#parts.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.#parts).toString('utf8').replace(/\r$/, '');
      this.#parts = [];
      if (line.trim() !== '') lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.#parts.push(chunk.subarray(start));
    return lines;
  }

  /** What has arrived of an unfinished line (empty when the stream ended cleanly). */
  rest(): string {
    return Buffer.concat(this.#parts).toString('utf8');
  }
}
