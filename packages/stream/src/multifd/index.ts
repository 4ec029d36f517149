/**
 * `@savevm/stream/multifd`: the packets of QEMU's multifd channels — the initial per-channel
 * packet, the RAM packet and the device-state packet, their common header and constants. The
 * multifd channels of core and the session's transports use them; an embedder does not. The
 * layouts are in `docs/design/multifd.md`.
 * @packageDocumentation
 */
export {
  MULTIFD_INIT_PACKET_SIZE,
  MULTIFD_HEADER_SIZE,
  MULTIFD_PAGES_PER_PACKET,
  MULTIFD_PAGE_SIZE,
  MULTIFD_RAM_PACKET_SIZE,
  MULTIFD_DEVICE_STATE_PACKET_SIZE,
  MultifdFlag,
} from './multifd-constants.js';
export { MultifdPacketError } from './multifd-packet-error.js';
export { encodeMultifdInit, decodeMultifdInit, formatUuid, parseUuid, UUID_SIZE, type MultifdInitPacket } from './init-packet.js';
export { readMultifdHeader } from './packet-header.js';
export { encodeRamPacket, decodeRamPacket, type MultifdRamPacket, type RamPacketLimits } from './ram-packet.js';
export { encodeDeviceStatePacket, decodeDeviceStatePacket, type MultifdDeviceStatePacket } from './device-state-packet.js';
