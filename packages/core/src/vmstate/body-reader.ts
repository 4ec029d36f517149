/**
 * The reader a vmstate body is decoded through: the stream's reader plus a push-back
 * buffer. QEMU's loader peeks at a subsection header (marker, length, name) before
 * deciding whether it belongs to the description being loaded; when it does not, the
 * bytes stay in the stream for whoever reads next. Here the header is read and, when
 * declined, pushed back, with the same effect.
 */
import type { QemuFileReader } from '@savevm/stream';

/** A {@link QemuFileReader} with push-back, offering just what body decoding needs. */
export class BodyReader {
  private pushed: Buffer = Buffer.alloc(0);

  /** @param r the stream */
  constructor(readonly r: QemuFileReader) {}

  /** Stream offset of the next byte this reader hands out. */
  get offset(): number {
    return this.r.offset - this.pushed.length;
  }

  /** Bytes pushed back and not read again. */
  get pushedBack(): number {
    return this.pushed.length;
  }

  /** Puts bytes back in front of the stream (they were read from just before the current offset). */
  unread(bytes: Buffer): void {
    this.pushed = this.pushed.length === 0 ? bytes : Buffer.concat([bytes, this.pushed]);
  }

  /** The next byte without consuming it, or undefined at the end of the stream. */
  async peekU8(): Promise<number | undefined> {
    return this.pushed.length > 0 ? this.pushed[0] : this.r.peekU8();
  }

  /**
   * `n` bytes. Comes from the push-back buffer first; the rest is collected from the
   * stream as it arrives (never allocated up front from `n`).
   * @param copy whether the result must outlive the next read (a view is returned otherwise when possible)
   */
  async bytes(n: number, what: string, copy = true): Promise<Buffer> {
    if (this.pushed.length === 0) {
      if (n <= this.r.available) return copy ? Buffer.from(this.r.takeView(n)) : this.r.takeView(n);
      return this.r.getBytes(n, what);
    }
    const fromPushed = Math.min(n, this.pushed.length);
    const head = this.pushed.subarray(0, fromPushed);
    this.pushed = this.pushed.subarray(fromPushed);
    if (fromPushed === n) return copy ? Buffer.from(head) : head;
    return Buffer.concat([head, await this.r.getBytes(n - fromPushed, what)]);
  }

  /**
   * `n` bytes if the stream has them, else undefined with nothing consumed (what was
   * read is pushed back): QEMU's peek, which fails softly at the end of the data. Reads
   * byte by byte, so meant for short items (a subsection header).
   */
  async tryBytes(n: number): Promise<Buffer | undefined> {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      if (this.pushed.length === 0 && (await this.r.isAtEnd())) {
        this.unread(out.subarray(0, i));
        return undefined;
      }
      out[i] = (await this.small(1, 'a subsection header'))[0] as number;
    }
    return out;
  }

  /** Skips `n` bytes. */
  async skip(n: number, what: string): Promise<void> {
    const fromPushed = Math.min(n, this.pushed.length);
    this.pushed = this.pushed.subarray(fromPushed);
    if (n > fromPushed) await this.r.skip(n - fromPushed, what);
  }

  /** Bytes of a fixed-size item (at most a few), read for immediate decoding. */
  async small(n: number, what: string): Promise<Buffer> {
    if (this.pushed.length === 0) {
      if (this.r.available < n) await this.r.ensure(n, what);
      return this.r.takeView(n);
    }
    return this.bytes(n, what, false);
  }
}
