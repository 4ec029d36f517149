import type { ByteSink, ReadChannel } from '../channels/channel.js';
import { isSpliceInput, type SpliceSink } from '../channels/splice.js';
import { StreamError, StreamFormatError, StreamIoError, StreamTruncatedError } from '../errors.js';

/** Size of the reader's look-ahead buffer (QEMU's IO_BUF_SIZE); also the largest `ensure`. */
export const READ_BUF_SIZE = 32768;
/** Chunk in which long payloads are collected, so a lying length never allocates up front. */
const COLLECT_CHUNK = 1024 * 1024;
const TWO_32 = 2 ** 32;

/** Options of {@link QemuFileReader.copyTo}. */
export interface CopyOptions {
  /** A reused buffer for reads past the look-ahead; pass a page-aligned one for bulk data. */
  scratch?: Uint8Array;
  /** Size of a scratch buffer to allocate when none is given (capped at the payload size). */
  chunkSize?: number;
  /** Names the payload, for the truncation error. */
  what?: string;
  /**
   * Lets the sink take the bytes past the look-ahead straight from the channel's fd
   * (splice(2), no copy through user space) when the channel offers one (a sync fd channel).
   */
  spliceSink?: SpliceSink;
}

/**
 * The reading half of a QEMUFile: a 32 KiB look-ahead buffer over a channel, big-endian
 * gets, exact 64-bit values, and helpers that move payloads to a sink through one reused
 * buffer. It tracks the stream offset of every byte it hands out.
 *
 * Unlike QEMU (which returns zeros past EOF and sets -EIO), a read that runs past the end
 * throws a {@link StreamTruncatedError} naming the offset; errors are sticky: after the
 * first, every read throws it again.
 *
 * Two styles: `await getBe32()` and friends; or `await ensure(n)` followed by synchronous
 * `takeBe32()`… calls for hot paths.
 */
export class QemuFileReader {
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private atEnd = false;
  private firstError: StreamError | undefined;

  /**
   * @param channel where the bytes come from
   * @param options.startOffset stream offset of the channel's first byte (default 0)
   * @param options.lookAheadBytes size of the look-ahead buffer (default 32 KiB, at least
   *   512): a reader made for one small body at a time (`inspect`'s decoders) takes a small
   *   one, so making it costs no 32 KiB allocation and copy
   */
  constructor(
    readonly channel: ReadChannel,
    options: { startOffset?: number; lookAheadBytes?: number } = {},
  ) {
    this.base = options.startOffset ?? 0;
    this.buf = Buffer.allocUnsafe(Math.max(512, options.lookAheadBytes ?? READ_BUF_SIZE));
  }

  /** Stream offset of the next byte to be read (bytes consumed so far). */
  get offset(): number {
    return this.base + this.pos;
  }

  /** The first error this reader hit, if any. */
  get error(): StreamError | undefined {
    return this.firstError;
  }

  /** Bytes buffered and available to `take*` without I/O. */
  get available(): number {
    return this.end - this.pos;
  }

  /**
   * Size of the look-ahead buffer: the largest `ensure` or `peek`, and the most bytes
   * {@link available} can ever report (what a caller reserves room for when it takes the
   * buffered bytes of a payload ahead of reading the rest).
   */
  get lookAheadLimit(): number {
    return this.buf.length;
  }

  private fail(err: StreamError): never {
    this.firstError ??= err;
    // Sticky: drop what is buffered so that every later read goes through the error check.
    this.end = this.pos;
    throw this.firstError;
  }

  /** Reads from the channel into the buffer; returns bytes read (0 at end of stream). */
  private async readSome(): Promise<number> {
    if (this.atEnd) return 0;
    let n: number;
    try {
      const r = this.channel.read(this.buf.subarray(this.end));
      n = typeof r === 'number' ? r : await r;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.fail(new StreamIoError(this.base + this.end, `read failed: ${message}`, err));
    }
    if (n === 0) this.atEnd = true;
    this.end += n;
    return n;
  }

  private compact(): void {
    if (this.pos === 0) return;
    this.buf.copyWithin(0, this.pos, this.end);
    this.base += this.pos;
    this.end -= this.pos;
    this.pos = 0;
  }

  /**
   * Makes sure `n` bytes (at most {@link lookAheadLimit}) are buffered.
   * @param what names the item being read, for the truncation error
   */
  async ensure(n: number, what = `${n} bytes`): Promise<void> {
    if (this.firstError) throw this.firstError;
    if (this.end - this.pos >= n) return;
    const size = this.buf.length;
    if (n > size) throw new RangeError(`ensure(${n}) exceeds the ${size}-byte look-ahead`);
    if (this.pos + n > size) this.compact();
    while (this.end - this.pos < n) {
      if ((await this.readSome()) === 0) this.fail(new StreamTruncatedError(this.base + this.end, what));
    }
  }

  /**
   * Up to `n` (at most {@link lookAheadLimit}) next bytes without consuming them: fewer
   * only when the stream ends first (QEMU's `qemu_peek_buffer`). The view is valid until
   * the next read.
   */
  async peek(n: number): Promise<Buffer> {
    if (this.firstError) throw this.firstError;
    const size = this.buf.length;
    if (n > size) throw new RangeError(`peek(${n}) exceeds the ${size}-byte look-ahead`);
    if (this.end - this.pos < n) {
      if (this.pos + n > size) this.compact();
      while (this.end - this.pos < n) {
        if ((await this.readSome()) === 0) break;
      }
    }
    return this.buf.subarray(this.pos, Math.min(this.end, this.pos + n));
  }

  /** Whether the stream has no more bytes (waits for data or the end). */
  async isAtEnd(): Promise<boolean> {
    if (this.firstError) throw this.firstError;
    if (this.end > this.pos) return false;
    this.compact();
    while (this.end === this.pos) {
      if ((await this.readSome()) === 0) return true;
    }
    return false;
  }

  /** The next byte without consuming it, or undefined at the end of the stream. */
  async peekU8(): Promise<number | undefined> {
    if (await this.isAtEnd()) return undefined;
    return this.buf[this.pos];
  }

  /** Takes one buffered byte (after `ensure`). */
  takeU8(): number {
    this.check(1);
    return this.buf[this.pos++] as number;
  }

  /** Takes a buffered big-endian 16-bit value. */
  takeBe16(): number {
    this.check(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** Takes a buffered big-endian 32-bit value (unsigned). */
  takeBe32(): number {
    this.check(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Takes a buffered big-endian 64-bit value, exactly, as a bigint. */
  takeBe64(): bigint {
    this.check(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Takes a buffered big-endian 64-bit value that must fit a safe integer (sizes). */
  takeBe64Number(what = 'a 64-bit length'): number {
    this.check(8);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    if (hi >= 0x200000) {
      this.fail(new StreamFormatError('TOO_LARGE', this.offset, `${what} of 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} exceeds 2^53`));
    }
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /**
   * The look-ahead buffer, in which {@link takeAt} says where the bytes it took are (valid
   * until the next read).
   */
  get buffered(): Buffer {
    return this.buf;
  }

  /**
   * Takes `n` buffered bytes and returns where they start in {@link buffered}: a
   * {@link takeView} that makes no view (a hot path that reads a few bytes per record).
   */
  takeAt(n: number): number {
    this.check(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** Takes `n` buffered bytes as a view into the look-ahead buffer (valid until the next read). */
  takeView(n: number): Buffer {
    this.check(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Drops `n` buffered bytes (after `ensure`): a synchronous `skip` that makes no view. */
  takeSkip(n: number): void {
    this.check(n);
    this.pos += n;
  }

  private check(n: number): void {
    if (this.end - this.pos < n) throw new RangeError(`take of ${n} bytes without ensure (${this.end - this.pos} buffered)`);
  }

  /** Reads one byte. */
  async getU8(what = 'a byte'): Promise<number> {
    if (this.end - this.pos < 1) await this.ensure(1, what);
    return this.takeU8();
  }

  /** Reads a big-endian 16-bit value. */
  async getBe16(what = 'a 16-bit value'): Promise<number> {
    if (this.end - this.pos < 2) await this.ensure(2, what);
    return this.takeBe16();
  }

  /** Reads a big-endian 32-bit value. */
  async getBe32(what = 'a 32-bit value'): Promise<number> {
    if (this.end - this.pos < 4) await this.ensure(4, what);
    return this.takeBe32();
  }

  /** Reads a big-endian 64-bit value as a bigint. */
  async getBe64(what = 'a 64-bit value'): Promise<bigint> {
    if (this.end - this.pos < 8) await this.ensure(8, what);
    return this.takeBe64();
  }

  /** Reads a big-endian 64-bit value that must be a safe integer. */
  async getBe64Number(what = 'a 64-bit length'): Promise<number> {
    if (this.end - this.pos < 8) await this.ensure(8, what);
    return this.takeBe64Number(what);
  }

  /** Reads a counted string: a u8 length and that many bytes, decoded as latin1-safe UTF-8. */
  async getCountedString(what = 'a counted string'): Promise<string> {
    const len = await this.getU8(what);
    if (this.end - this.pos < len) await this.ensure(len, what);
    return this.takeView(len).toString('utf8');
  }

  /**
   * Reads exactly `n` bytes into a new buffer. The bytes are collected as they arrive, in
   * chunks of at most 1 MiB, so a huge `n` from an untrusted stream fails with a truncation
   * error before anything near `n` is allocated.
   */
  async getBytes(n: number, what = `${n} bytes`): Promise<Buffer> {
    if (this.end - this.pos >= n) return Buffer.from(this.takeView(n));
    const parts: Buffer[] = [];
    await this.copyTo(
      n,
      {
        write: (chunk) => {
          parts.push(Buffer.from(chunk));
        },
      },
      { what, chunkSize: COLLECT_CHUNK },
    );
    return Buffer.concat(parts, n);
  }

  /**
   * Fills `target` completely from the stream: what is buffered first, then the rest read
   * from the channel straight into `target` (one copy; the look-ahead is not refilled).
   */
  async readInto(target: Uint8Array, what = `${target.length} bytes`): Promise<void> {
    if (this.firstError) throw this.firstError;
    const n = target.length;
    const buffered = Math.min(n, this.end - this.pos);
    if (buffered > 0) {
      this.buf.copy(target, 0, this.pos, this.pos + buffered);
      this.pos += buffered;
    }
    let filled = buffered;
    if (filled === n) return;
    // The look-ahead is empty now: read the rest directly.
    this.base += this.pos;
    this.pos = this.end = 0;
    while (filled < n) filled += await this.readPastLookAhead(target.subarray(filled), what);
  }

  /**
   * Reads at least one byte from the channel into `into`, past an empty look-ahead, and
   * advances the stream offset; a channel at its end fails the stream as truncated in `what`.
   */
  private async readPastLookAhead(into: Uint8Array, what: string): Promise<number> {
    let got = 0;
    if (!this.atEnd) {
      try {
        const r = this.channel.read(into);
        got = typeof r === 'number' ? r : await r;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.fail(new StreamIoError(this.base, `read failed: ${message}`, err));
      }
    }
    if (got === 0) {
      this.atEnd = true;
      this.fail(new StreamTruncatedError(this.base, what));
    }
    this.base += got;
    return got;
  }

  /** Skips `n` bytes. */
  async skip(n: number, what = `${n} bytes`): Promise<void> {
    await this.copyTo(n, { write: () => undefined }, { what });
  }

  /**
   * Moves `n` payload bytes from the stream to `sink` (QEMU's `qemu_file_get_to_fd`):
   * first what is buffered, then straight from the channel into `scratch` (one reused
   * buffer; pass a page-aligned one for bulk data), chunk by chunk.
   * @param options.scratch reused buffer for reads past the look-ahead (default: the look-ahead itself)
   * @param options.chunkSize size of a scratch buffer to allocate instead (capped at `n`)
   * @param options.what names the payload, for the truncation error
   * @param options.spliceSink lets the sink take the bytes past the look-ahead fd to fd
   *   (splice) when the channel is a plain fd in sync mode; 'busy' chunks go through `scratch`
   */
  async copyTo(n: number, sink: ByteSink, options: CopyOptions = {}): Promise<void> {
    const what = options.what ?? `${n} bytes`;
    if (this.firstError) throw this.firstError;
    let remaining = n;
    const buffered = Math.min(remaining, this.end - this.pos);
    if (buffered > 0) {
      const r = sink.write(this.buf.subarray(this.pos, this.pos + buffered));
      if (r) await r;
      this.pos += buffered;
      remaining -= buffered;
    }
    if (remaining === 0) return;
    // The look-ahead is empty now: read the rest directly.
    this.base += this.pos;
    this.pos = this.end = 0;
    const into =
      options.scratch ?? (options.chunkSize ? Buffer.allocUnsafe(Math.min(options.chunkSize, remaining)) : this.buf);
    let splice = options.spliceSink !== undefined && isSpliceInput(this.channel) ? this.channel.spliceInput() : undefined;
    while (remaining > 0) {
      if (splice !== undefined && options.spliceSink !== undefined && !this.atEnd) {
        let moved: number | 'busy' | 'unsupported';
        try {
          moved = options.spliceSink.spliceFrom(splice, remaining);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.fail(new StreamIoError(this.base, `splice failed: ${message}`, err));
        }
        if (moved === 'unsupported') splice = undefined;
        else if (moved === 0) {
          this.atEnd = true;
          this.fail(new StreamTruncatedError(this.base, what));
        } else if (moved !== 'busy') {
          this.base += moved;
          remaining -= moved;
          continue;
        }
      }
      const got = await this.readPastLookAhead(into.subarray(0, Math.min(remaining, into.length)), what);
      remaining -= got;
      const w = sink.write(into.subarray(0, got));
      if (w) await w;
    }
  }

  /** Closes the channel. */
  async close(): Promise<void> {
    await this.channel.close();
  }

  /** Makes pending and future reads end at once (cancel). */
  shutdown(): void {
    this.channel.shutdown();
  }
}
