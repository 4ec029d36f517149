/**
 * The numbers of QEMU's multifd channels (migration/multifd.h, unchanged from QEMU 7.2 to
 * 10.2): every packet starts with the same magic and version, and the RAM packet has a fixed
 * length. See docs/design/multifd.md §2–§3.
 */

/** The magic that opens every multifd packet and the initial packet (`MULTIFD_MAGIC`). */
export const MULTIFD_MAGIC = 0x11223344;

/** The packet version both ends send and require (`MULTIFD_VERSION`). */
export const MULTIFD_VERSION = 1;

/** Bytes of the initial packet each channel sends first (`MultiFDInit_t`). */
export const MULTIFD_INIT_PACKET_SIZE = 64;

/** Bytes of the header every later packet starts with (`MultiFDPacketHdr_t`: magic, version, flags). */
export const MULTIFD_HEADER_SIZE = 12;

/** Guest pages one RAM packet describes at most (`MULTIFD_PACKET_SIZE` 512 KiB / 4 KiB). */
export const MULTIFD_PAGES_PER_PACKET = 128;

/** The page size of multifd RAM packets. */
export const MULTIFD_PAGE_SIZE = 4096;

/** Bytes of the RAM block name field of a RAM packet (NUL-padded). */
export const MULTIFD_RAMBLOCK_FIELD_SIZE = 256;

/** Bytes of a RAM packet before its page data: 320 + 8 × 128 (every offset slot is sent). */
export const MULTIFD_RAM_PACKET_SIZE = 320 + 8 * MULTIFD_PAGES_PER_PACKET;

/** Bytes of the idstr field of a device-state packet (NUL-terminated). */
export const MULTIFD_IDSTR_FIELD_SIZE = 256;

/** Bytes of a device-state packet before its payload (`MultiFDPacketDeviceState_t`). */
export const MULTIFD_DEVICE_STATE_PACKET_SIZE = MULTIFD_HEADER_SIZE + MULTIFD_IDSTR_FIELD_SIZE + 4 + 4;

/** The flag bits of a packet header. */
export const MultifdFlag = {
  /** A barrier: every page sent before it on this channel is in place (RAM packets only). */
  SYNC: 0x01,
  /** The compression method bits (0: none, the only method this project speaks). */
  COMPRESSION_MASK: 0x3e,
  /** The packet is a device-state packet (QEMU 10.0+). */
  DEVICE_STATE: 0x40,
} as const;
