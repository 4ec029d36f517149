import { describe, expect, it } from 'vitest';
import { RamFlag } from '../src/index.js';

describe('RamFlag', () => {
  it("holds QEMU's RAM_SAVE_FLAG_* bits, each a single bit below the smallest page size", () => {
    expect(RamFlag).toEqual({
      ZERO: 0x02,
      MEM_SIZE: 0x04,
      PAGE: 0x08,
      EOS: 0x10,
      CONTINUE: 0x20,
      XBZRLE: 0x40,
      HOOK: 0x80,
      COMPRESS_PAGE: 0x100,
      MULTIFD_FLUSH: 0x200,
    });
    for (const bit of Object.values(RamFlag)) {
      expect(bit & (bit - 1)).toBe(0);
      expect(bit).toBeLessThan(4096);
    }
  });
});
