/**
 * Page records assembled in one buffer and handed to the writer in one piece
 * (docs/design/ram-section.md §7): one copy of each page, and one write per batch instead
 * of one per 32 KiB.
 */
import type { QemuFileWriter } from '@savevm/stream';
import type { RamBlock } from './ram-block.js';
import { TARGET_PAGE_SIZE } from './ram-constants.js';

/** Default size of a {@link RecordBatch}: 1 MiB. */
export const DEFAULT_RECORD_BATCH_BYTES = 1 << 20;

const TWO_32 = 2 ** 32;

/**
 * A buffer of whole `ram` records. `flushTo` lends the records to the writer (which takes a
 * buffer this large without copying it) and starts a new batch: in the same buffer when the
 * writer holds nothing any more (a synchronous channel wrote it at once), else in a fresh one.
 */
export class RecordBatch {
  private buf: Buffer;
  private used = 0;

  /** @param capacity bytes per batch (at least one page record) */
  constructor(readonly capacity = DEFAULT_RECORD_BATCH_BYTES) {
    if (capacity < TARGET_PAGE_SIZE + 8 + 256) throw new RangeError(`record batch of ${capacity} bytes is smaller than one page record`);
    this.buf = Buffer.allocUnsafeSlow(capacity);
  }

  /** Bytes in the batch. */
  get size(): number {
    return this.used;
  }

  /** Whether `n` more bytes fit. */
  fits(n: number): boolean {
    return this.used + n <= this.capacity;
  }

  /** Appends a record word: `offset | flags` as a be64. */
  word(offset: number, flags: number): void {
    const hi = Math.floor(offset / TWO_32);
    this.buf.writeUInt32BE(hi, this.used);
    this.buf.writeUInt32BE(offset - hi * TWO_32 + flags, this.used + 4);
    this.used += 8;
  }

  /** Appends a block name: u8 length, the idstr's bytes. */
  name(block: RamBlock): void {
    const id = block.idBytes;
    this.buf[this.used] = id.length;
    id.copy(this.buf, this.used + 1);
    this.used += 1 + id.length;
  }

  /** Appends one byte. */
  u8(v: number): void {
    this.buf[this.used++] = v;
  }

  /** Appends the page at byte `offset` of `bytes` (copied now). */
  page(bytes: Buffer, offset: number): void {
    bytes.copy(this.buf, this.used, offset, offset + TARGET_PAGE_SIZE);
    this.used += TARGET_PAGE_SIZE;
  }

  /** Lends the records to `f` in one piece and starts a new batch. */
  flushTo(f: QemuFileWriter): void {
    if (this.used === 0) return;
    const records = this.buf.subarray(0, this.used);
    this.used = 0;
    // A batch of at most a page is gathered by the writer anyway: say so, and keep the buffer.
    if (records.length <= TARGET_PAGE_SIZE) {
      f.putBuffer(records, 'copy');
      return;
    }
    f.putBuffer(records, 'lend');
    // Nothing queued: the channel took the bytes (and the writer dropped the buffer) already.
    if (f.bytesQueued > 0) this.buf = Buffer.allocUnsafeSlow(this.capacity);
  }
}
