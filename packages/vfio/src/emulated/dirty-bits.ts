/**
 * Moving dirty bits from the emulated kernel's own bitmaps (one bit per page of a mapping
 * or a logged range, 32-bit words, bit n = bit n % 32 of word n / 32) into a caller's u64
 * bitmap, the two ways the kernel does it (docs/design/vfio-dirty-tracking.md §1, §2, §3):
 * set-only at any page size (iommufd, device DMA logging), and type1's whole-word writes.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A 32-bit word view of `bytes` when it is word-aligned on a little-endian host, else undefined. */
function wordsOf(bytes: Uint8Array): Uint32Array | undefined {
  if (!LITTLE_ENDIAN || (bytes.byteOffset & 3) !== 0) return undefined;
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

function setBit(dst: Uint8Array, n: number): void {
  const i = n >>> 3;
  if (i < dst.length) dst[i] = (dst[i] as number) | (1 << (n & 7));
}

/** Where a kernel bitmap sits: its first page's IOVA, its page size and page count. */
export interface SourceBits {
  /** The words (bit n = page n). */
  readonly words: Uint32Array;
  /** IOVA of page 0. */
  readonly iova: number;
  /** Bytes per bit. */
  readonly pageSize: number;
  /** Pages it covers. */
  readonly pages: number;
}

/**
 * Sets in `dst` (bit n = `iova + n × pageSize`) the bit of every report page that holds a
 * dirty source page inside `[iova, iova + length)`, and clears those source bits when
 * `clear`. Bits are only ever set in `dst`.
 */
export function orDirtyInto(dst: Uint8Array, iova: number, length: number, pageSize: number, src: SourceBits, clear: boolean): void {
  const from = Math.max(0, Math.ceil((iova - src.iova) / src.pageSize));
  const to = Math.min(src.pages, Math.ceil((iova + length - src.iova) / src.pageSize));
  if (to <= from) return;
  const words = src.words;
  const dstWords = wordsOf(dst);
  const skipBits = (src.iova - iova) / pageSize;
  // Fast path: the same page size, the source's words landing on whole words of `dst`.
  if (dstWords !== undefined && pageSize === src.pageSize && Number.isInteger(skipBits) && skipBits % 32 === 0 && from % 32 === 0) {
    const base = skipBits / 32;
    const first = from / 32;
    const full = to >>> 5; // words wholly inside the window
    const inDst = Math.min(full, dstWords.length - base);
    for (let w = first; w < inDst; w++) {
      const v = words[w] as number;
      if (v !== 0) dstWords[base + w] = (dstWords[base + w] as number) | v;
    }
    for (let w = Math.max(first, inDst); w < full; w++) {
      const v = words[w] as number;
      for (let b = 0; v !== 0 && b < 32; b++) if ((v & (1 << b)) !== 0) setBit(dst, (base + w) * 32 + b);
    }
    if (clear) words.fill(0, first, full);
    const tail = to & 31;
    if (tail !== 0) {
      const v = (words[full] as number) & ((1 << tail) - 1);
      for (let b = 0; v !== 0 && b < tail; b++) if ((v & (1 << b)) !== 0) setBit(dst, (base + full) * 32 + b);
      if (clear) words[full] = ((words[full] as number) & ~((1 << tail) - 1)) >>> 0;
    }
    return;
  }
  for (let w = from >>> 5; w * 32 < to; w++) {
    const v = words[w] as number;
    if (v === 0) continue;
    for (let b = 0; b < 32; b++) {
      const page = w * 32 + b;
      if (page < from || page >= to || (v & (1 << b)) === 0) continue;
      const start = src.iova + page * src.pageSize;
      const firstBit = Math.floor((Math.max(start, iova) - iova) / pageSize);
      const lastBit = Math.floor((Math.min(start + src.pageSize, iova + length) - 1 - iova) / pageSize);
      for (let n = firstBit; n <= lastBit; n++) setBit(dst, n);
      if (clear) words[w] = ((words[w] as number) & ~(1 << b)) >>> 0;
    }
  }
}

/** Whether any source page inside `[iova, iova + length)` is dirty (the kernel touches the caller's bitmap only then). */
export function anyDirtyIn(iova: number, length: number, src: SourceBits): boolean {
  const from = Math.max(0, Math.ceil((iova - src.iova) / src.pageSize));
  const to = Math.min(src.pages, Math.ceil((iova + length - src.iova) / src.pageSize));
  const words = src.words;
  for (let w = from >>> 5; w * 32 < to; w++) {
    let v = words[w] as number;
    if (v === 0) continue;
    if (w * 32 < from) v &= ~((1 << (from - w * 32)) - 1);
    if ((w + 1) * 32 > to) v &= (1 << (to - w * 32)) - 1;
    if (v !== 0) return true;
  }
  return false;
}

/**
 * type1's report of one mapping (`update_user_bitmap()`): the mapping's `nbits` bits go to
 * bit `bitOffset` of `dst` by writing whole u64 words — the first word keeps `dst`'s bits
 * below `bitOffset % 64`, every other bit of the words written is the mapping's (0 past its
 * end). When `allDirty`, every bit of the mapping is reported set.
 */
export function writeType1Bits(dst: Uint8Array, bitOffset: number, src: Uint32Array, nbits: number, allDirty: boolean): void {
  const shift = bitOffset % 64;
  const firstWord = (bitOffset - shift) / 64;
  const bytes = Math.ceil((nbits + shift) / 64) * 8;
  const out = dst.subarray(firstWord * 8, firstWord * 8 + bytes);
  const srcBit = (n: number): boolean => allDirty || ((src[n >>> 5] as number) & (1 << (n & 31))) !== 0;
  const outWords = wordsOf(out);
  if (shift === 0 && outWords !== undefined) {
    const full = nbits >>> 5;
    if (allDirty) outWords.fill(0xffffffff, 0, full);
    else outWords.set(src.subarray(0, full));
    let i = full;
    if ((nbits & 31) !== 0) outWords[i++] = ((allDirty ? 0xffffffff : (src[full] as number)) & ((1 << (nbits & 31)) - 1)) >>> 0;
    outWords.fill(0, i);
    return;
  }
  for (let n = shift; n < out.length * 8; n++) {
    const byte = n >>> 3;
    const mask = 1 << (n & 7);
    const set = n - shift < nbits && srcBit(n - shift);
    out[byte] = set ? (out[byte] as number) | mask : (out[byte] as number) & ~mask;
  }
}
