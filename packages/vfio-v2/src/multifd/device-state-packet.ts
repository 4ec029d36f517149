/**
 * QEMU's VFIO device-state packet, the payload of one multifd device-state packet
 * (docs/design/multifd.md §4): a 12-byte big-endian header (version, index, flags), then the
 * bytes of one read of the data_fd, or of the config state for the last one.
 */

/** The only version QEMU 10.0 sends and accepts (`VFIO_DEVICE_STATE_PACKET_VER_CURRENT`). */
export const VFIO_DEVICE_STATE_PACKET_VERSION = 0;

/** The flag of the last packet, which carries the config state (`VFIO_DEVICE_STATE_CONFIG_STATE`). */
export const VFIO_DEVICE_STATE_CONFIG_STATE = 1;

/** Bytes of the header before the data. */
export const VFIO_DEVICE_STATE_HEADER_SIZE = 12;

/** The index no packet may carry (UINT32_MAX). */
export const VFIO_DEVICE_STATE_INVALID_INDEX = 0xffffffff;

/** The header of one VFIO device-state packet. */
export interface VfioDeviceStateHeader {
  /** Packet version (0). */
  readonly version: number;
  /** The buffer's place in the device's stream: 0, 1, 2 … then the config state. */
  readonly index: number;
  /** {@link VFIO_DEVICE_STATE_CONFIG_STATE} on the last packet, else 0. */
  readonly flags: number;
}

/** Builds one packet: the header, then `data` (copied). */
export function encodeVfioDeviceStatePacket(index: number, flags: number, data: Uint8Array): Buffer {
  const packet = Buffer.allocUnsafe(VFIO_DEVICE_STATE_HEADER_SIZE + data.length);
  packet.writeUInt32BE(VFIO_DEVICE_STATE_PACKET_VERSION, 0);
  packet.writeUInt32BE(index, 4);
  packet.writeUInt32BE(flags, 8);
  packet.set(data, VFIO_DEVICE_STATE_HEADER_SIZE);
  return packet;
}

/** Reads the header of a packet of at least {@link VFIO_DEVICE_STATE_HEADER_SIZE} bytes. */
export function readVfioDeviceStateHeader(packet: Uint8Array): VfioDeviceStateHeader {
  const view = new DataView(packet.buffer, packet.byteOffset, VFIO_DEVICE_STATE_HEADER_SIZE);
  return { version: view.getUint32(0), index: view.getUint32(4), flags: view.getUint32(8) };
}
