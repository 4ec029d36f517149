/** QEMU's section footer as bytes in a buffer: the marker and the be32 section id (docs/design/stream-format.md). */
import { RecordType } from './constants.js';

/** Bytes of a section footer: the 0x7e marker and the be32 section id. */
export const SECTION_FOOTER_SIZE = 5;

/** Whether a footer for `sectionId` starts at `at` in `bytes`. */
export function isSectionFooterAt(bytes: Uint8Array, at: number, sectionId: number): boolean {
  if (at < 0 || at + SECTION_FOOTER_SIZE > bytes.length || bytes[at] !== RecordType.SECTION_FOOTER) return false;
  const id = (((bytes[at + 1] ?? 0) << 24) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 8) | (bytes[at + 4] ?? 0)) >>> 0;
  return id === sectionId;
}
