/**
 * QEMU 10.0's multifd device-state packet (`MultiFDPacketDeviceState_t`, 276 bytes): the
 * header with flags DEVICE_STATE, the section idstr (256 bytes, NUL-terminated), be32
 * instance id, be32 size of the payload that follows (never 0). See docs/design/multifd.md §3.
 */
import { MULTIFD_DEVICE_STATE_PACKET_SIZE, MULTIFD_HEADER_SIZE, MULTIFD_IDSTR_FIELD_SIZE, MultifdFlag } from './multifd-constants.js';
import { MultifdPacketError } from './multifd-packet-error.js';
import { putMultifdHeader } from './packet-header.js';

const IDSTR_AT = MULTIFD_HEADER_SIZE;
const INSTANCE_AT = IDSTR_AT + MULTIFD_IDSTR_FIELD_SIZE;
const SIZE_AT = INSTANCE_AT + 4;

/** What a device-state packet says (its payload follows it). */
export interface MultifdDeviceStatePacket {
  /** The section idstr of the device. */
  readonly idstr: string;
  /** The section instance id. */
  readonly instanceId: number;
  /** Bytes of payload that follow (> 0). */
  readonly size: number;
}

/** The 276-byte packet that announces `size` bytes of `idstr`'s state. */
export function encodeDeviceStatePacket(packet: MultifdDeviceStatePacket): Buffer {
  const name = Buffer.from(packet.idstr, 'utf8');
  if (name.length >= MULTIFD_IDSTR_FIELD_SIZE) throw new RangeError(`idstr too long for a device-state packet: ${name.length} bytes`);
  if (!Number.isInteger(packet.size) || packet.size <= 0 || packet.size > 0xffffffff) {
    throw new RangeError(`a device-state packet carries 1 … 2^32−1 bytes, not ${packet.size}`);
  }
  const out = Buffer.alloc(MULTIFD_DEVICE_STATE_PACKET_SIZE);
  putMultifdHeader(out, MultifdFlag.DEVICE_STATE);
  name.copy(out, IDSTR_AT);
  out.writeUInt32BE(packet.instanceId >>> 0, INSTANCE_AT);
  out.writeUInt32BE(packet.size, SIZE_AT);
  return out;
}

/**
 * Reads a device-state packet (header already checked), refusing what QEMU refuses in its
 * words: SYNC on a device-state packet, an idstr without its NUL, an empty payload.
 * @param bytes {@link MULTIFD_DEVICE_STATE_PACKET_SIZE} bytes
 * @param offset the packet's byte offset on its channel, for errors
 * @throws MultifdPacketError
 */
export function decodeDeviceStatePacket(bytes: Buffer, offset: number): MultifdDeviceStatePacket {
  if (bytes.length < MULTIFD_DEVICE_STATE_PACKET_SIZE) throw new RangeError(`a device-state packet has ${MULTIFD_DEVICE_STATE_PACKET_SIZE} bytes`);
  if ((bytes.readUInt32BE(8) & MultifdFlag.SYNC) !== 0) throw new MultifdPacketError(offset + 8, 'multifd: received SYNC device state packet');
  const field = bytes.subarray(IDSTR_AT, IDSTR_AT + MULTIFD_IDSTR_FIELD_SIZE);
  if (field[MULTIFD_IDSTR_FIELD_SIZE - 1] !== 0) throw new MultifdPacketError(offset + IDSTR_AT, 'unterminated multifd device state idstr');
  const size = bytes.readUInt32BE(SIZE_AT);
  if (size === 0) throw new MultifdPacketError(offset + SIZE_AT, 'multifd: received empty device state packet');
  return { idstr: field.toString('utf8', 0, field.indexOf(0)), instanceId: bytes.readUInt32BE(INSTANCE_AT), size };
}
