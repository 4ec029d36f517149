/**
 * Zero-page detection: "all 4096 bytes are 0x00" (docs/design/ram-section.md §4). The
 * first and last 32-bit words reject almost every non-zero page without a call; the rest
 * is one native compare against a page of zeros. (Measured on 256 MiB with a quarter of
 * zero pages: this is faster than a pure JavaScript loop over 32-bit words, over
 * BigUint64 words, or `Buffer.compare` alone; a Float64Array view is not exact, since
 * -0 === 0.)
 */
import { TARGET_PAGE_SIZE } from './ram-constants.js';

const ZERO_PAGE = Buffer.alloc(TARGET_PAGE_SIZE);

/** A zero-page test bound to one block's memory. */
export type ZeroPageTest = (offset: number) => boolean;

/** A test of whether the page at a byte offset of `bytes` is all zero. */
export function zeroPageTest(bytes: Buffer): ZeroPageTest {
  if ((bytes.byteOffset & 3) === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    return (offset) => {
      const w = offset / 4;
      if (((words[w] as number) | (words[w + 1023] as number)) !== 0) return false;
      return bytes.compare(ZERO_PAGE, 0, TARGET_PAGE_SIZE, offset, offset + TARGET_PAGE_SIZE) === 0;
    };
  }
  return (offset) => bytes.compare(ZERO_PAGE, 0, TARGET_PAGE_SIZE, offset, offset + TARGET_PAGE_SIZE) === 0;
}

/** Whether the page at byte `offset` of `bytes` is all zero. */
export function isZeroPage(bytes: Uint8Array, offset: number): boolean {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return b.compare(ZERO_PAGE, 0, TARGET_PAGE_SIZE, offset, offset + TARGET_PAGE_SIZE) === 0;
}
