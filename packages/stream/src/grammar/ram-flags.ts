/**
 * The flags of the `ram` section's records: every QEMU stream carries RAM in a `ram` section
 * whose body is a list of be64 words, each an address with these flags in its low bits (below
 * the target page size), as QEMU's `migration/ram.c` writes them.
 */

/** RAM record flags, in the low bits of each be64. */
export const RamFlag = {
  /** 0x02: a page filled with one byte (always 0); the fill byte follows. */
  ZERO: 0x02,
  /** 0x04: the address bits hold the total RAM size; the list of blocks and their lengths follows. */
  MEM_SIZE: 0x04,
  /** 0x08: a whole page of raw bytes follows. */
  PAGE: 0x08,
  /** 0x10: end of this section body. */
  EOS: 0x10,
  /** 0x20: same RAM block as the previous record, so no block idstr is written. */
  CONTINUE: 0x20,
  /** 0x40: an XBZRLE-compressed delta of a page sent before. */
  XBZRLE: 0x40,
  /** 0x80: a hook for the RDMA transport. */
  HOOK: 0x80,
  /** 0x100: a zlib-compressed page (the old compression feature). */
  COMPRESS_PAGE: 0x100,
  /** 0x200 (newer QEMU): flush point of the multifd channels. */
  MULTIFD_FLUSH: 0x200,
} as const;
