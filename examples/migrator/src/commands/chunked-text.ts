/**
 * Text written in chunks: `savevm inspect` prints each record as it is read, and one write
 * per record (100,000 of them for a large stream) would cost more than the records do. What
 * is held is the chunk being filled (see `docs/design/hostile-input.md`, "Cost").
 */

/** Characters held before they are written: 1 Mi. */
export const CHUNK_CHARS = 1 << 20;

/** Collects text and hands it to `write` a chunk at a time. */
export class ChunkedText {
  private pending = '';

  /**
   * @param write where a chunk goes
   * @param chunkChars write once this many characters are held
   */
  constructor(
    private readonly write: (text: string) => void,
    private readonly chunkChars = CHUNK_CHARS,
  ) {}

  /** Adds `text`; writes what is held once it reaches a chunk. */
  add(text: string): void {
    this.pending += text;
    if (this.pending.length >= this.chunkChars) this.flush();
  }

  /** Writes what is held, if anything. */
  flush(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  }
}
