/**
 * One bit per target page of a RAM block, in 32-bit words, with the number of set bits
 * kept up to date (docs/design/ram-section.md §6).
 */

/** Number of set bits in a 32-bit word. */
export function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowestBit(w: number): number {
  return 31 - Math.clz32(w & -w);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A dirty bitmap: bit `n` stands for page `n`, stored as bit `n % 32` of word `n / 32`
 * (on a little-endian host, byte for byte the layout of the kernel's u64 dirty bitmaps).
 * `count` is the number of set bits. Bits past `pageCount` are always clear.
 */
export class DirtyBitmap {
  /** The words; bits past `pageCount` are kept clear. */
  readonly words: Uint32Array;
  private setBits = 0;

  /** @param pageCount how many pages the bitmap covers */
  constructor(readonly pageCount: number) {
    if (!Number.isSafeInteger(pageCount) || pageCount < 0) throw new RangeError(`page count ${pageCount} is not a non-negative integer`);
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
  }

  /** Number of set bits (dirty pages). */
  get count(): number {
    return this.setBits;
  }

  /** Whether page `page` is set. */
  test(page: number): boolean {
    return ((this.words[page >>> 5] as number) & (1 << (page & 31))) !== 0;
  }

  /** Sets page `page`; returns whether it was clear before. */
  set(page: number): boolean {
    this.checkPage(page);
    const i = page >>> 5;
    const bit = 1 << (page & 31);
    const w = this.words[i] as number;
    if ((w & bit) !== 0) return false;
    this.words[i] = w | bit;
    this.setBits++;
    return true;
  }

  /** Clears page `page` and returns whether it was set (QEMU's test-and-clear before sending). */
  testAndClear(page: number): boolean {
    const i = page >>> 5;
    const bit = 1 << (page & 31);
    const w = this.words[i] as number;
    if ((w & bit) === 0) return false;
    this.words[i] = w & ~bit;
    this.setBits--;
    return true;
  }

  /** Sets `count` pages from `first`; returns how many were clear before. */
  setRange(first: number, count: number): number {
    if (count <= 0) return 0;
    this.checkPage(first);
    this.checkPage(first + count - 1);
    let added = 0;
    let page = first;
    const end = first + count;
    while (page < end) {
      const i = page >>> 5;
      const lo = page & 31;
      const n = Math.min(32 - lo, end - page);
      const mask = n === 32 ? 0xffffffff : ((1 << n) - 1) << lo;
      const w = this.words[i] as number;
      const fresh = mask & ~w;
      if (fresh !== 0) {
        added += popcount32(fresh);
        this.words[i] = w | mask;
      }
      page += n;
    }
    this.setBits += added;
    return added;
  }

  /** Sets every page (the first pass sends everything). */
  setAll(): void {
    this.words.fill(0xffffffff);
    const tail = this.pageCount & 31;
    if (tail !== 0) this.words[this.words.length - 1] = (1 << tail) - 1;
    this.setBits = this.pageCount;
  }

  /** Clears every page. */
  clearAll(): void {
    this.words.fill(0);
    this.setBits = 0;
  }

  /**
   * ORs `words` (the same layout as {@link DirtyBitmap.words}) into this bitmap starting at page
   * `firstPage` (a multiple of 32); bits past `pageCount` are ignored. Returns how many
   * pages became set.
   */
  orWords(words: Uint32Array, firstPage = 0): number {
    if ((firstPage & 31) !== 0) throw new RangeError(`orWords: first page ${firstPage} is not a multiple of 32`);
    const base = firstPage >>> 5;
    const n = Math.min(words.length, this.words.length - base);
    let added = 0;
    for (let i = 0; i < n; i++) {
      const v = words[i] as number;
      if (v === 0) continue;
      const w = this.words[base + i] as number;
      const fresh = v & ~w;
      if (fresh !== 0) {
        added += popcount32(fresh);
        this.words[base + i] = w | v;
      }
    }
    this.setBits += added;
    if (n > 0 && base + n === this.words.length) this.trimTail();
    return added;
  }

  /**
   * ORs a little-endian bitmap (the kernel's dirty bitmaps: bit `n` is bit `n % 8` of byte
   * `n / 8`) into this bitmap starting at page `firstPage`. Returns how many pages became set.
   */
  orLittleEndianBytes(bytes: Uint8Array, firstPage = 0): number {
    if (LITTLE_ENDIAN && (firstPage & 31) === 0 && (bytes.byteOffset & 3) === 0 && (bytes.byteLength & 3) === 0) {
      return this.orWords(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2), firstPage);
    }
    let added = 0;
    const limit = Math.min(bytes.length * 8, this.pageCount - firstPage);
    for (let byte = 0; byte * 8 < limit; byte++) {
      const v = bytes[byte] as number;
      if (v === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        const n = byte * 8 + bit;
        if (n >= limit) break;
        if ((v & (1 << bit)) !== 0 && this.set(firstPage + n)) added++;
      }
    }
    return added;
  }

  /**
   * Moves every set bit of `other` (same page count) into this bitmap and clears `other`:
   * clear on read. Returns how many pages became set here.
   */
  takeFrom(other: DirtyBitmap): number {
    if (other.pageCount !== this.pageCount) throw new RangeError(`takeFrom: ${other.pageCount} pages into ${this.pageCount}`);
    if (other.setBits === 0) return 0;
    const src = other.words;
    const dst = this.words;
    let added = 0;
    for (let i = 0; i < src.length; i++) {
      const v = src[i] as number;
      if (v === 0) continue;
      src[i] = 0;
      const w = dst[i] as number;
      const fresh = v & ~w;
      if (fresh !== 0) {
        added += popcount32(fresh);
        dst[i] = w | v;
      }
    }
    other.setBits = 0;
    this.setBits += added;
    return added;
  }

  /** The first set page at or after `from`, or -1 when there is none. */
  nextSet(from: number): number {
    if (from >= this.pageCount) return -1;
    const words = this.words;
    let i = from >>> 5;
    let w = (words[i] as number) & (0xffffffff << (from & 31));
    for (;;) {
      if (w !== 0) return (i << 5) + lowestBit(w);
      if (++i >= words.length) return -1;
      w = words[i] as number;
    }
  }

  /** Recounts the set bits from the words (after a caller wrote {@link words} directly). */
  recount(): number {
    this.trimTail();
    let n = 0;
    // An indexed loop: `for…of` over the words boxes every value above 2^31 (2.5× slower).
    const words = this.words;
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as number;
      if (w !== 0) n += popcount32(w);
    }
    this.setBits = n;
    return n;
  }

  private trimTail(): void {
    const tail = this.pageCount & 31;
    const last = this.words.length - 1;
    if (tail === 0 || last < 0) return;
    const w = this.words[last] as number;
    const keep = w & ((1 << tail) - 1);
    if (keep !== w) {
      this.setBits -= popcount32(w & ~keep);
      this.words[last] = keep;
    }
  }

  private checkPage(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) {
      throw new RangeError(`page ${page} is outside the bitmap's ${this.pageCount} pages`);
    }
  }
}
