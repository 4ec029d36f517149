/**
 * QEMU's multifd RAM packet (`MultiFDPacket_t`, 1344 bytes, all big-endian): header,
 * pages_alloc, normal_pages, next_packet_size, packet_num, zero_pages (QEMU 10.0; unused and
 * 0 in 7.2), padding, the RAM block's name (256 bytes, NUL-padded) and 128 page offsets —
 * the normal pages first, then the zero pages. `normal_pages × 4096` bytes of page data
 * follow, in offset order. A packet with the SYNC flag and no pages is a barrier.
 * See docs/design/multifd.md §3.
 */
import {
  MULTIFD_PAGE_SIZE,
  MULTIFD_PAGES_PER_PACKET,
  MULTIFD_RAMBLOCK_FIELD_SIZE,
  MULTIFD_RAM_PACKET_SIZE,
} from './multifd-constants.js';
import { MultifdPacketError } from './multifd-packet-error.js';
import { putMultifdHeader } from './packet-header.js';

const PAGES_ALLOC_AT = 12;
const NORMAL_PAGES_AT = 16;
const NEXT_PACKET_SIZE_AT = 20;
const PACKET_NUM_AT = 24;
const ZERO_PAGES_AT = 32;
const RAMBLOCK_AT = 64;
const OFFSETS_AT = 320;

/** What a RAM packet says (its page data travels after it). */
export interface MultifdRamPacket {
  /** Header flags (SYNC or 0). */
  readonly flags: number;
  /** Offset slots the sender allocated (128; 0 on a QEMU 10.0 SYNC packet). */
  readonly pagesAlloc: number;
  /** Pages whose data follows the packet. */
  readonly normalPages: number;
  /** Pages the receiver zero-fills (always 0 from QEMU 7.2). */
  readonly zeroPages: number;
  /** Bytes of page data the sender says follow (QEMU 7.2 may leave it stale: size by `normalPages`). */
  readonly nextPacketSize: number;
  /** One counter across all channels. */
  readonly packetNum: bigint;
  /** The RAM block's idstr ('' on a SYNC packet without pages). */
  readonly ramBlock: string;
  /** Byte offsets in the block: `normalPages` normal ones, then `zeroPages` zero ones. */
  readonly offsets: readonly number[];
}

/**
 * Writes a RAM packet into `out` (at least {@link MULTIFD_RAM_PACKET_SIZE} bytes, zeroed
 * by this function): every offset slot is sent, the unused ones as 0.
 */
export function encodeRamPacket(packet: MultifdRamPacket, out: Buffer = Buffer.allocUnsafe(MULTIFD_RAM_PACKET_SIZE)): Buffer {
  const used = packet.normalPages + packet.zeroPages;
  if (used > MULTIFD_PAGES_PER_PACKET || packet.offsets.length !== used) {
    throw new RangeError(`a RAM packet holds at most ${MULTIFD_PAGES_PER_PACKET} pages and one offset each`);
  }
  out.fill(0, 0, MULTIFD_RAM_PACKET_SIZE);
  putMultifdHeader(out, packet.flags);
  out.writeUInt32BE(packet.pagesAlloc, PAGES_ALLOC_AT);
  out.writeUInt32BE(packet.normalPages, NORMAL_PAGES_AT);
  out.writeUInt32BE(packet.nextPacketSize, NEXT_PACKET_SIZE_AT);
  out.writeBigUInt64BE(packet.packetNum, PACKET_NUM_AT);
  out.writeUInt32BE(packet.zeroPages, ZERO_PAGES_AT);
  const name = Buffer.from(packet.ramBlock, 'utf8');
  if (name.length >= MULTIFD_RAMBLOCK_FIELD_SIZE) throw new RangeError(`RAM block name too long for a multifd packet: ${name.length} bytes`);
  name.copy(out, RAMBLOCK_AT);
  for (let i = 0; i < used; i++) out.writeBigUInt64BE(BigInt(packet.offsets[i] as number), OFFSETS_AT + 8 * i);
  return out;
}

/** How a RAM packet is checked on arrival. */
export interface RamPacketLimits {
  /** Whether the zero_pages field is read (QEMU 10.0 streams) or ignored as padding (7.2). */
  readonly zeroPagesField: boolean;
}

/**
 * Reads a RAM packet (header already checked by `readMultifdHeader`), refusing what QEMU
 * refuses in its words: more than 128 pages, more normal or zero pages than allocated; and an
 * offset that is not a whole page or beyond 2^53 (QEMU would write it anyway).
 * (Whether the block exists and the offset fits it is the receiver's check.)
 * @param bytes {@link MULTIFD_RAM_PACKET_SIZE} bytes
 * @param offset the packet's byte offset on its channel, for errors
 * @throws MultifdPacketError
 */
export function decodeRamPacket(bytes: Buffer, offset: number, limits: RamPacketLimits = { zeroPagesField: true }): MultifdRamPacket {
  if (bytes.length < MULTIFD_RAM_PACKET_SIZE) throw new RangeError(`a RAM packet has ${MULTIFD_RAM_PACKET_SIZE} bytes`);
  const flags = bytes.readUInt32BE(8);
  const pagesAlloc = bytes.readUInt32BE(PAGES_ALLOC_AT);
  if (pagesAlloc > MULTIFD_PAGES_PER_PACKET) {
    throw new MultifdPacketError(offset + PAGES_ALLOC_AT, `multifd: received packet with ${pagesAlloc} pages, expected ${MULTIFD_PAGES_PER_PACKET}`);
  }
  const normalPages = bytes.readUInt32BE(NORMAL_PAGES_AT);
  if (normalPages > pagesAlloc) {
    throw new MultifdPacketError(
      offset + NORMAL_PAGES_AT,
      `multifd: received packet with ${normalPages} non-zero pages, which exceeds maximum expected pages ${pagesAlloc}`,
    );
  }
  const zeroPages = limits.zeroPagesField ? bytes.readUInt32BE(ZERO_PAGES_AT) : 0;
  if (zeroPages > pagesAlloc - normalPages) {
    throw new MultifdPacketError(offset + ZERO_PAGES_AT, `multifd: received packet with ${zeroPages} zero pages, expected maximum ${pagesAlloc - normalPages}`);
  }
  // QEMU overwrites the last byte with a NUL before it looks the name up.
  const nameField = bytes.subarray(RAMBLOCK_AT, RAMBLOCK_AT + MULTIFD_RAMBLOCK_FIELD_SIZE - 1);
  const nul = nameField.indexOf(0);
  const offsets = new Array<number>(normalPages + zeroPages);
  for (let i = 0; i < offsets.length; i++) {
    const at = OFFSETS_AT + 8 * i;
    const value = bytes.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value % BigInt(MULTIFD_PAGE_SIZE) !== 0n) {
      throw new MultifdPacketError(offset + at, `multifd: offset ${value} is not a page in a RAM block`);
    }
    offsets[i] = Number(value);
  }
  return {
    flags,
    pagesAlloc,
    normalPages,
    zeroPages,
    nextPacketSize: bytes.readUInt32BE(NEXT_PACKET_SIZE_AT),
    packetNum: bytes.readBigUInt64BE(PACKET_NUM_AT),
    ramBlock: nameField.toString('utf8', 0, nul < 0 ? nameField.length : nul),
    offsets,
  };
}
