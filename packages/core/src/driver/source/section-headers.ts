/**
 * Section headers and footers of one entry, encoded once and reused for every section it
 * writes: the bytes are constant per entry, and writing them with one `putBuffer`
 * instead of five or six puts is what keeps the per-section cost low. The layout is the
 * grammar's (`writeSectionStart/Full/Part/End`, `writeSectionFooter` in `@savevm/stream`;
 * spec qemu-stream.md §2); a test checks the bytes are the same.
 */
import { RecordType } from '@savevm/stream';
import type { SaveStateEntry } from '../../registry/save-state-entry.js';

/** The encoded headers of one entry. */
export interface EncodedSectionHeaders {
  /** SECTION_START: type, be32 section id, u8 length, idstr, be32 instance, be32 version. */
  readonly start: Buffer;
  /** SECTION_FULL: same layout as START. */
  readonly full: Buffer;
  /** SECTION_PART: type, be32 section id. */
  readonly part: Buffer;
  /** SECTION_END: type, be32 section id. */
  readonly end: Buffer;
  /** Footer: 0x7e, be32 section id. */
  readonly footer: Buffer;
}

const cache = new WeakMap<SaveStateEntry, EncodedSectionHeaders>();

function fullHeader(type: number, e: SaveStateEntry): Buffer {
  const id = e.idstrBytes;
  const b = Buffer.allocUnsafe(1 + 4 + 1 + id.length + 8);
  b[0] = type;
  b.writeUInt32BE(e.sectionId, 1);
  b[5] = id.length;
  id.copy(b, 6);
  b.writeUInt32BE(e.instanceId >>> 0, 6 + id.length);
  b.writeUInt32BE(e.versionId >>> 0, 10 + id.length);
  return b;
}

function shortRecord(type: number, sectionId: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = type;
  b.writeUInt32BE(sectionId, 1);
  return b;
}

/** The encoded headers of `entry` (built on first use). */
export function sectionHeadersOf(entry: SaveStateEntry): EncodedSectionHeaders {
  let headers = cache.get(entry);
  if (headers === undefined) {
    headers = {
      start: fullHeader(RecordType.SECTION_START, entry),
      full: fullHeader(RecordType.SECTION_FULL, entry),
      part: shortRecord(RecordType.SECTION_PART, entry.sectionId),
      end: shortRecord(RecordType.SECTION_END, entry.sectionId),
      footer: shortRecord(RecordType.SECTION_FOOTER, entry.sectionId),
    };
    cache.set(entry, headers);
  }
  return headers;
}
