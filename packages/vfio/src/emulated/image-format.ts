/**
 * The emulated device's migration stream (little-endian):
 * - image header, 24 bytes: magic u64, version u32, state size u32, page size u32, flags u32 (0);
 * - page records: tag `PAGE` u32, page index u32, length u32, then the page bytes;
 *   a page may come several times (pre-copy resends dirty pages; the last copy wins);
 * - end record (STOP_COPY only): tag `DONE` u32, CRC-32 of the final state u32, state size u32.
 * The destination validates it on RESUMING→STOP: header matching the device, an end record,
 * nothing partial, and the checksum of what it assembled.
 */

/** Image header magic ("SVMEMUL1" read as a little-endian u64). */
export const IMAGE_MAGIC = 0x314c554d454d5653n;
/** Image format version. */
export const IMAGE_VERSION = 1;
/** Image header size, bytes. */
export const IMAGE_HEADER_SIZE = 24;
/** Record header size, bytes. */
export const RECORD_HEADER_SIZE = 12;
/** Tag of a page record ("PAGE"). */
export const TAG_PAGE = 0x45474150;
/** Tag of the end record ("DONE"). */
export const TAG_DONE = 0x454e4f44;

/** Encodes the image header for a device of this geometry. */
export function encodeImageHeader(stateSize: number, pageSize: number): Uint8Array {
  const out = new Uint8Array(IMAGE_HEADER_SIZE);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, IMAGE_MAGIC, true);
  view.setUint32(8, IMAGE_VERSION, true);
  view.setUint32(12, stateSize, true);
  view.setUint32(16, pageSize, true);
  view.setUint32(20, 0, true);
  return out;
}

/** Encodes a record header. */
export function encodeRecordHeader(tag: number, a: number, b: number): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, tag, true);
  view.setUint32(4, a >>> 0, true);
  view.setUint32(8, b >>> 0, true);
  return out;
}

/** Total bytes of a one-pass STOP_COPY image for this geometry (what MIG_DATA_SIZE reports). */
export function fullImageSize(stateSize: number, pageSize: number): number {
  const pages = Math.ceil(stateSize / pageSize);
  return IMAGE_HEADER_SIZE + pages * RECORD_HEADER_SIZE + stateSize + RECORD_HEADER_SIZE;
}
