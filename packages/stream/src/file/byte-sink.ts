/**
 * The puts the stream grammar needs. `QemuFileWriter` has them; so does
 * {@link ByteArrayWriter}, which collects them into a buffer (to encode a record once and
 * reuse the bytes).
 */
export interface BigEndianPuts {
  /** Puts one byte. */
  putU8(v: number): void;
  /** Puts a big-endian 16-bit value. */
  putBe16(v: number): void;
  /** Puts a big-endian 32-bit value (modulo 2^32). */
  putBe32(v: number): void;
  /** Puts raw bytes. */
  putBuffer(data: Uint8Array): void;
  /** Puts a counted string: u8 length and at most 255 bytes. */
  putCountedString(s: string | Uint8Array): void;
}

/** Collects puts into a growing buffer; `bytes()` returns exactly what was put. */
export class ByteArrayWriter implements BigEndianPuts {
  private buf: Buffer;
  private used = 0;

  /** @param initialSize starting capacity in bytes */
  constructor(initialSize = 64) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }

  /** Puts one byte. */
  putU8(v: number): void {
    this.room(1);
    this.buf[this.used++] = v & 0xff;
  }

  /** Puts a big-endian 16-bit value. */
  putBe16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.used);
    this.used += 2;
  }

  /** Puts a big-endian 32-bit value (modulo 2^32). */
  putBe32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.used);
    this.used += 4;
  }

  /** Puts raw bytes (copied). */
  putBuffer(data: Uint8Array): void {
    this.room(data.length);
    this.buf.set(data, this.used);
    this.used += data.length;
  }

  /** Puts a counted string: u8 length and at most 255 bytes (UTF-8). */
  putCountedString(s: string | Uint8Array): void {
    const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    if (bytes.length > 255) throw new RangeError(`counted string of ${bytes.length} bytes exceeds 255`);
    this.putU8(bytes.length);
    this.putBuffer(bytes);
  }

  /** A copy of everything put so far, sized exactly. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.used));
  }
}
