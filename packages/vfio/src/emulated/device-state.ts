/**
 * The emulated device's own state: a byte array of configurable size, filled from a seed so two
 * sides can compare, divided into pages for dirty tracking, and changed by a dirtying workload.
 */

/** A small deterministic PRNG (xorshift32). */
export class Xorshift32 {
  #x: number;
  /** Seeds the generator (0 is replaced by a fixed non-zero value). */
  constructor(seed: number) {
    this.#x = seed >>> 0 || 0x9e3779b9;
  }
  /** Next 32-bit value. */
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x;
  }
}

/** Listener told which page changed. */
export type DirtyListener = (page: number) => void;

/** The device's state bytes and their pages. */
export class DeviceStateBytes {
  /** The bytes. */
  readonly bytes: Uint8Array;
  /** Dirty-tracking granularity, bytes. */
  readonly pageSize: number;
  /** Number of pages (the last may be short). */
  readonly pageCount: number;
  readonly #random: Xorshift32;
  readonly #listeners = new Set<DirtyListener>();

  /** Allocates `size` bytes filled from `seed`. */
  constructor(size: number, pageSize: number, seed: number) {
    if (!Number.isSafeInteger(size) || size <= 0 || size > 2 ** 31) throw new RangeError(`bad state size ${size}`);
    if (!Number.isSafeInteger(pageSize) || pageSize <= 0) throw new RangeError(`bad page size ${pageSize}`);
    this.bytes = new Uint8Array(size);
    this.pageSize = pageSize;
    this.pageCount = Math.ceil(size / pageSize);
    this.#random = new Xorshift32(seed);
    fillFromSeed(this.bytes, seed);
  }

  /** Byte length of page `page`. */
  pageLength(page: number): number {
    return Math.min(this.pageSize, this.bytes.byteLength - page * this.pageSize);
  }

  /** A view of page `page`. */
  page(page: number): Uint8Array {
    const start = page * this.pageSize;
    return this.bytes.subarray(start, start + this.pageLength(page));
  }

  /** Subscribes to page changes; returns the unsubscribe function. */
  onDirty(listener: DirtyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Changes `count` pseudo-random bytes (one per chosen page) and reports the pages. */
  dirtyRandom(count: number): void {
    for (let i = 0; i < count; i++) {
      const offset = this.#random.next() % this.bytes.byteLength;
      this.bytes[offset] = (this.bytes[offset] ?? 0) ^ ((this.#random.next() & 0xff) | 1);
      this.#notify(Math.floor(offset / this.pageSize));
    }
  }

  /** Writes `data` at `offset` (a guest/device write) and reports the touched pages. */
  write(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.byteLength > this.bytes.byteLength) throw new RangeError('write outside device state');
    this.bytes.set(data, offset);
    if (data.byteLength === 0) return;
    const first = Math.floor(offset / this.pageSize);
    const last = Math.floor((offset + data.byteLength - 1) / this.pageSize);
    for (let page = first; page <= last; page++) this.#notify(page);
  }

  /** Replaces the whole state (a completed load). */
  replace(data: Uint8Array): void {
    this.bytes.set(data.subarray(0, this.bytes.byteLength));
  }

  #notify(page: number): void {
    for (const listener of this.#listeners) listener(page);
  }
}

/** Fills `bytes` deterministically from `seed` (the same seed gives the same bytes). */
export function fillFromSeed(bytes: Uint8Array, seed: number): void {
  const random = new Xorshift32(seed);
  for (let i = 0; i < bytes.byteLength; i += 4) {
    const value = random.next();
    bytes[i] = value & 0xff;
    if (i + 1 < bytes.byteLength) bytes[i + 1] = (value >>> 8) & 0xff;
    if (i + 2 < bytes.byteLength) bytes[i + 2] = (value >>> 16) & 0xff;
    if (i + 3 < bytes.byteLength) bytes[i + 3] = (value >>> 24) & 0xff;
  }
}
