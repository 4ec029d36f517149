/**
 * The 12-byte header of every multifd packet after the initial one (QEMU's
 * `MultiFDPacketHdr_t`): be32 magic, be32 version, be32 flags. The flags choose the packet:
 * DEVICE_STATE → a device-state packet, otherwise a RAM packet. See docs/design/multifd.md §3.
 */
import { MULTIFD_HEADER_SIZE, MULTIFD_MAGIC, MULTIFD_VERSION, MultifdFlag } from './multifd-constants.js';
import { MultifdPacketError } from './multifd-packet-error.js';

/** Writes a header with `flags` at `out[0..12)`. */
export function putMultifdHeader(out: Buffer, flags: number): void {
  out.writeUInt32BE(MULTIFD_MAGIC, 0);
  out.writeUInt32BE(MULTIFD_VERSION, 4);
  out.writeUInt32BE(flags >>> 0, 8);
}

/**
 * Reads a header and returns its flags, refusing what QEMU refuses: a wrong magic or
 * version, and any compression (this project speaks only uncompressed multifd).
 * @param bytes at least {@link MULTIFD_HEADER_SIZE} bytes
 * @param offset the packet's byte offset on its channel, for the error
 * @param channel the channel's number, for the error
 * @throws MultifdPacketError
 */
export function readMultifdHeader(bytes: Buffer, offset: number, channel: number): number {
  if (bytes.length < MULTIFD_HEADER_SIZE) throw new RangeError('a multifd header has 12 bytes');
  const magic = bytes.readUInt32BE(0);
  if (magic !== MULTIFD_MAGIC) {
    throw new MultifdPacketError(offset, `multifd: received packet magic ${magic.toString(16)}, expected ${MULTIFD_MAGIC.toString(16)}`);
  }
  const version = bytes.readUInt32BE(4);
  if (version !== MULTIFD_VERSION) {
    throw new MultifdPacketError(offset + 4, `multifd: received packet version ${version}, expected ${MULTIFD_VERSION}`);
  }
  const flags = bytes.readUInt32BE(8);
  if ((flags & MultifdFlag.COMPRESSION_MASK) !== 0) {
    const expected = flags & ~MultifdFlag.COMPRESSION_MASK;
    throw new MultifdPacketError(offset + 8, `multifd ${channel}: flags received ${flags.toString(16)} flags expected ${expected.toString(16)}`);
  }
  return flags;
}
