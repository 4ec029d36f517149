/**
 * The resuming side of an emulated data session: parses the image stream as it is written, in
 * any chunk sizes, into a staging copy of the state (never allocating from lengths in the
 * stream), and validates it on RESUMING→STOP.
 */
import { Errno } from '../errors.js';
import { crc32 } from './checksum.js';
import { allocateHugePageMemory } from '../syscalls/libc.js';
import {
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  IMAGE_VERSION,
  RECORD_HEADER_SIZE,
  TAG_DONE,
  TAG_PAGE,
} from './image-format.js';

/**
 * Where the stream parser stands: header fill, record fill, page offset and bytes left to
 * fill, end checksum, and the bytes of a header or record header that is partly filled.
 */
type ParserPosition = readonly [number, number, number, number, number | undefined, Uint8Array, Uint8Array];

/** States from this size up are staged in huge pages (smaller ones gain nothing). */
const STAGING_IN_HUGE_PAGES_FROM = 4 * 1024 * 1024;

/** A resuming session (STOP→RESUMING until RESUMING→STOP). */
export class ResumeSession {
  /** Set once the session is over (state left, reset): writes answer ENODEV. */
  ended = false;
  /** Bytes accepted so far. */
  bytesWritten = 0;
  readonly #stateSize: number;
  readonly #pageSize: number;
  readonly #pageCount: number;
  readonly #staging: Uint8Array;
  readonly #header = new Uint8Array(IMAGE_HEADER_SIZE);
  #headerFill = 0;
  readonly #record = new Uint8Array(RECORD_HEADER_SIZE);
  readonly #recordView = new DataView(this.#record.buffer);
  #recordFill = 0;
  /** Where the page being filled goes in the staging copy, and how many of its bytes are still to come (0: none). */
  #pageOffset = 0;
  #pageRemaining = 0;
  #expectedChecksum: number | undefined;
  #failed: number | undefined;

  /** Starts a session for a device of this geometry. */
  constructor(stateSize: number, pageSize: number) {
    this.#stateSize = stateSize;
    this.#pageSize = pageSize;
    this.#pageCount = Math.ceil(stateSize / pageSize);
    // A fresh state-sized buffer per resume: in huge pages where the kernel allows, or its
    // first touch costs a page fault per 4 KiB (262,144 per GiB; bench/README.md, multifd).
    this.#staging = stateSize >= STAGING_IN_HUGE_PAGES_FROM ? allocateHugePageMemory(stateSize).bytes : new Uint8Array(stateSize);
  }

  /** Ends the session (ENODEV from now on). */
  end(): void {
    this.ended = true;
  }

  /**
   * Consumes `data`. Returns its length, or −errno: EFAULT for a bad header (as mtty answers;
   * the session is spoiled), ENOMEM for bytes past the state (a page outside it, or anything
   * after the end record). Like the kernel, an ENOMEM write consumes nothing and the session
   * goes on: the write is checked in full before any of it is applied.
   */
  write(data: Uint8Array): number {
    if (this.#failed !== undefined) return -this.#failed;
    const saved = this.#snapshot();
    const refused = this.#consume(data, false);
    this.#restore(saved);
    if (refused === Errno.ENOMEM) return -Errno.ENOMEM;
    if (refused !== undefined) return this.#fail(refused);
    this.#consume(data, true);
    this.bytesWritten += data.byteLength;
    return data.byteLength;
  }

  #snapshot(): ParserPosition {
    return [
      this.#headerFill,
      this.#recordFill,
      this.#pageOffset,
      this.#pageRemaining,
      this.#expectedChecksum,
      this.#header.slice(),
      this.#record.slice(),
    ];
  }

  #restore(saved: ParserPosition): void {
    const [headerFill, recordFill, pageOffset, pageRemaining, checksum, header, record] = saved;
    this.#headerFill = headerFill;
    this.#recordFill = recordFill;
    this.#pageOffset = pageOffset;
    this.#pageRemaining = pageRemaining;
    this.#expectedChecksum = checksum;
    // The check may have parsed later records over a partly filled one: put its bytes back.
    this.#header.set(header);
    this.#record.set(record);
  }

  /**
   * Parses `data`; with `apply` false only checks it. Returns the errno that refuses it, if
   * any. A record header that lies whole in `data` is read in place; only one split across
   * writes is gathered in the session's record bytes.
   */
  #consume(data: Uint8Array, apply: boolean): number | undefined {
    let at = 0;
    let view: DataView | undefined;
    while (at < data.byteLength) {
      if (this.#headerFill < IMAGE_HEADER_SIZE) {
        const n = Math.min(IMAGE_HEADER_SIZE - this.#headerFill, data.byteLength - at);
        this.#header.set(data.subarray(at, at + n), this.#headerFill);
        this.#headerFill += n;
        at += n;
        if (this.#headerFill === IMAGE_HEADER_SIZE && !this.#headerValid()) return Errno.EFAULT;
        continue;
      }
      if (this.#expectedChecksum !== undefined) return Errno.ENOMEM;
      if (this.#pageRemaining > 0) {
        const n = Math.min(this.#pageRemaining, data.byteLength - at);
        if (apply) this.#staging.set(data.subarray(at, at + n), this.#pageOffset);
        this.#pageOffset += n;
        this.#pageRemaining -= n;
        at += n;
        continue;
      }
      let refused: number | undefined;
      if (this.#recordFill === 0 && data.byteLength - at >= RECORD_HEADER_SIZE) {
        view ??= new DataView(data.buffer, data.byteOffset, data.byteLength);
        refused = this.#startRecord(view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true));
        at += RECORD_HEADER_SIZE;
      } else {
        const n = Math.min(RECORD_HEADER_SIZE - this.#recordFill, data.byteLength - at);
        this.#record.set(data.subarray(at, at + n), this.#recordFill);
        this.#recordFill += n;
        at += n;
        if (this.#recordFill < RECORD_HEADER_SIZE) continue;
        this.#recordFill = 0;
        const record = this.#recordView;
        refused = this.#startRecord(record.getUint32(0, true), record.getUint32(4, true), record.getUint32(8, true));
      }
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  /** Takes a record header: a page to fill, or the end record. Returns the errno that refuses it, if any. */
  #startRecord(tag: number, a: number, b: number): number | undefined {
    if (tag === TAG_PAGE) {
      const expectedLength = a < this.#pageCount ? Math.min(this.#pageSize, this.#stateSize - a * this.#pageSize) : -1;
      if (expectedLength < 0 || b !== expectedLength) return Errno.ENOMEM;
      this.#pageOffset = a * this.#pageSize;
      this.#pageRemaining = b;
      return undefined;
    }
    if (tag === TAG_DONE) {
      if (b !== this.#stateSize) return Errno.EFAULT;
      this.#expectedChecksum = a;
      return undefined;
    }
    return Errno.EFAULT;
  }

  /** The loaded state if the stream is complete and intact; `undefined` (→ EINVAL) otherwise. */
  validate(): Uint8Array | undefined {
    if (this.#failed !== undefined) return undefined;
    if (this.#headerFill < IMAGE_HEADER_SIZE || this.#expectedChecksum === undefined) return undefined;
    if (this.#recordFill !== 0 || this.#pageRemaining > 0) return undefined;
    return crc32(this.#staging) === this.#expectedChecksum ? this.#staging : undefined;
  }

  #headerValid(): boolean {
    const view = new DataView(this.#header.buffer);
    return (
      view.getBigUint64(0, true) === IMAGE_MAGIC &&
      view.getUint32(8, true) === IMAGE_VERSION &&
      view.getUint32(12, true) === this.#stateSize &&
      view.getUint32(16, true) === this.#pageSize &&
      view.getUint32(20, true) === 0
    );
  }

  #fail(errno: number): number {
    this.#failed = errno;
    return -errno;
  }
}
