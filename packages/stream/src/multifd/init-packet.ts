/**
 * The 64-byte packet each multifd channel sends before anything else (QEMU's
 * `MultiFDInit_t`): be32 magic, be32 version, the VM's 16-byte uuid, the channel id, then
 * zeros. See docs/design/multifd.md §2.
 */
import { MULTIFD_INIT_PACKET_SIZE, MULTIFD_MAGIC, MULTIFD_VERSION } from './multifd-constants.js';
import { MultifdPacketError } from './multifd-packet-error.js';

/** Bytes of a VM uuid. */
export const UUID_SIZE = 16;

/** What an initial packet says. */
export interface MultifdInitPacket {
  /** The VM's uuid (QEMU `-uuid`; all zero when none was given). */
  readonly uuid: Uint8Array;
  /** The channel's number, 0 … channels − 1. */
  readonly channelId: number;
}

/** The initial packet of channel `channelId` of a VM with `uuid`. */
export function encodeMultifdInit(packet: MultifdInitPacket): Buffer {
  if (packet.uuid.length !== UUID_SIZE) throw new RangeError(`a uuid has ${UUID_SIZE} bytes, not ${packet.uuid.length}`);
  if (!Number.isInteger(packet.channelId) || packet.channelId < 0 || packet.channelId > 0xff) {
    throw new RangeError(`multifd channel id ${packet.channelId} is not a byte`);
  }
  const out = Buffer.alloc(MULTIFD_INIT_PACKET_SIZE);
  out.writeUInt32BE(MULTIFD_MAGIC, 0);
  out.writeUInt32BE(MULTIFD_VERSION, 4);
  out.set(packet.uuid, 8);
  out[24] = packet.channelId;
  return out;
}

/**
 * Reads an initial packet, refusing a wrong magic or version in QEMU's words.
 * (The uuid and the channel id are checked by whoever knows the expected ones.)
 * @param bytes exactly {@link MULTIFD_INIT_PACKET_SIZE} bytes
 * @throws MultifdPacketError on a wrong magic or version
 */
export function decodeMultifdInit(bytes: Uint8Array): MultifdInitPacket {
  if (bytes.length !== MULTIFD_INIT_PACKET_SIZE) throw new RangeError(`an initial packet has ${MULTIFD_INIT_PACKET_SIZE} bytes, not ${bytes.length}`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = view.readUInt32BE(0);
  if (magic !== MULTIFD_MAGIC) {
    throw new MultifdPacketError(0, `multifd: received packet magic ${magic.toString(16)} expected ${MULTIFD_MAGIC.toString(16)}`);
  }
  const version = view.readUInt32BE(4);
  if (version !== MULTIFD_VERSION) {
    throw new MultifdPacketError(4, `multifd: received packet version ${version} expected ${MULTIFD_VERSION}`);
  }
  return { uuid: Uint8Array.prototype.slice.call(view, 8, 8 + UUID_SIZE), channelId: view[24] as number };
}

/** A uuid as QEMU prints it (`11223344-5566-7788-99aa-bbccddeeff00`). */
export function formatUuid(uuid: Uint8Array): string {
  const hex = Buffer.from(uuid).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Parses a uuid written as QEMU's `-uuid` takes it (32 hex digits, dashes optional).
 * @throws RangeError when it is not one
 */
export function parseUuid(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a uuid: ${JSON.stringify(text)}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
