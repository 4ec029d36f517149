/**
 * Section headers and footers of one entry, encoded once and reused for every section it
 * writes: the bytes are constant per entry, and writing them with one `putBuffer`
 * instead of five or six puts is what keeps the per-section cost low. The bytes come from
 * the grammar's own writers (`writeSectionStart/Full/Part/End`, `writeSectionFooter` in
 * `@savevm/stream`), run once into a `ByteArrayWriter`.
 */
import {
  ByteArrayWriter,
  type BigEndianPuts,
  writeSectionEnd,
  writeSectionFooter,
  writeSectionFull,
  writeSectionPart,
  writeSectionStart,
} from '@savevm/stream';
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

function encode(write: (f: BigEndianPuts) => void): Buffer {
  const b = new ByteArrayWriter(16);
  write(b);
  return b.bytes();
}

/** The encoded headers of `entry` (built on first use). */
export function sectionHeadersOf(entry: SaveStateEntry): EncodedSectionHeaders {
  let headers = cache.get(entry);
  if (headers === undefined) {
    const identity = { sectionId: entry.sectionId, idstr: entry.idstr, instanceId: entry.instanceId, versionId: entry.versionId };
    headers = {
      start: encode((f) => writeSectionStart(f, identity)),
      full: encode((f) => writeSectionFull(f, identity)),
      part: encode((f) => writeSectionPart(f, entry.sectionId)),
      end: encode((f) => writeSectionEnd(f, entry.sectionId)),
      footer: encode((f) => writeSectionFooter(f, entry.sectionId)),
    };
    cache.set(entry, headers);
  }
  return headers;
}
