/**
 * Where a section body ends, decided over the stream's bytes in memory: by the body's own
 * format where it is known, else by its footer (see `docs/design/hostile-input.md`, "One
 * parser decides"). Runs synchronously: every decoder reads from a {@link MemoryBodySource}.
 */
import { RecordType, SECTION_FOOTER_SIZE, StreamError, StreamTruncatedError, type SectionRecord, type VmdescDevice, isSectionFooterAt } from '@savevm/stream';
import { isVfioIdstr } from '@savevm/vfio';
import { MemoryBodySource, decodeInMemory, type BodyDecoder } from './body-source.js';
import { ramBodyDecoder, type RamBodySummary } from './ram-body.js';
import { vfioBodyDecoder, type VfioBodySummary } from './vfio-body.js';
import { decodeFlatDeviceBody, deviceBodyDecoder, type DecodedStruct } from './vmstate-body.js';

/** How a section body's extent was found. */
export type BodyDecoding = 'ram' | 'vfio' | 'vmdesc' | 'footer-scan';

/**
 * A section with its body's size and what decoding found: what inspection hands over for a
 * section (an `InspectedRecord`, built once).
 */
export interface BodyExtent {
  /** The section. */
  readonly record: SectionRecord;
  /** Body size in bytes. */
  readonly bodySize: number;
  /** How the size was found. */
  readonly decoding: BodyDecoding;
  /** Field-by-field contents (`vmdesc`). */
  readonly fields?: DecodedStruct;
  /** RAM records (`ram`). */
  readonly ram?: RamBodySummary;
  /** VFIO tags (`vfio`). */
  readonly vfio?: VfioBodySummary;
}

const RECORD_TYPES = new Set<number>([
  RecordType.EOF,
  RecordType.SECTION_START,
  RecordType.SECTION_PART,
  RecordType.SECTION_END,
  RecordType.SECTION_FULL,
  RecordType.COMMAND,
]);

/**
 * A footer for `sectionId` followed by something that can start the next record (for
 * scanning blind). Only the section's own id is looked for: an opaque body often holds
 * `0x7e` and zeros, so a footer naming another section cannot be told from data.
 */
function plausibleFooterAt(bytes: Buffer, at: number, sectionId: number): boolean {
  if (!isSectionFooterAt(bytes, at, sectionId)) return false;
  const next = bytes[at + SECTION_FOOTER_SIZE];
  return next === undefined || RECORD_TYPES.has(next);
}

function scanForFooter(bytes: Buffer, section: SectionRecord): number | undefined {
  for (let at = section.bodyOffset; at + SECTION_FOOTER_SIZE <= bytes.length; at++) {
    const i = bytes.indexOf(RecordType.SECTION_FOOTER, at);
    if (i < 0) break;
    if (plausibleFooterAt(bytes, i, section.sectionId)) return i - section.bodyOffset;
    at = i;
  }
  return undefined;
}

/**
 * Finds where section bodies end, as the destination's handler would: a body decoded by its
 * format and followed by its footer wins (VFIO, then the vmdesc, then `ram`); a `ram` or
 * VFIO body that decoded is trusted even when no footer follows (the parser then reports
 * the missing or wrong footer, as the destination does, instead of a blind search
 * swallowing the next records); otherwise the section's footer is searched for; when there
 * is none, a body the vmdesc decoded is trusted. One per stream: its decoders share one
 * {@link MemoryBodySource}.
 */
export class BodyExtents {
  private readonly source: MemoryBodySource;

  /**
   * @param bytes the whole stream
   * @param pageSize the target page size (`ram`)
   */
  constructor(
    private readonly bytes: Buffer,
    private readonly pageSize: number,
  ) {
    this.source = new MemoryBodySource(bytes, 0);
  }

  /**
   * The extent of `section`'s body.
   * @param device the section's vmdesc entry (used for FULL sections)
   * @param lastRamBlock the block the previous `ram` section's last page named
   */
  find(section: SectionRecord, device: VmdescDevice | undefined, lastRamBlock: string | undefined): BodyExtent {
    // VFIO first: its tags say more than the vmdesc's one opaque buffer for an old-style section.
    const vfio = isVfioIdstr(section.idstr) ? this.decodeVfio(section) : undefined;
    if (vfio !== undefined && this.footerFollows(section, vfio)) return vfio;
    const vmdesc = section.type === 'full' && device ? this.decodeVmdesc(section, device) : undefined;
    if (vmdesc !== undefined && this.footerFollows(section, vmdesc)) return vmdesc;
    const ram = section.idstr === 'ram' ? this.decodeRam(section, lastRamBlock) : undefined;
    if (ram !== undefined && this.footerFollows(section, ram)) return ram;
    const selfDelimited = vfio ?? ram;
    if (selfDelimited) return selfDelimited;
    const scanned = scanForFooter(this.bytes, section);
    if (scanned !== undefined) return { record: section, bodySize: scanned, decoding: 'footer-scan' };
    if (vmdesc) return vmdesc;
    throw new StreamTruncatedError(this.bytes.length, `the body and footer of section ${section.sectionId} (${section.idstr})`);
  }

  private footerFollows(section: SectionRecord, extent: BodyExtent): boolean {
    return isSectionFooterAt(this.bytes, section.bodyOffset + extent.bodySize, section.sectionId);
  }

  /** Runs `decoder` over the source; undefined when the body does not decode (a stream error). */
  private attempt<T>(decoder: BodyDecoder<T>): T | undefined {
    try {
      return decodeInMemory(decoder);
    } catch (err) {
      if (err instanceof StreamError) return undefined;
      throw err;
    }
  }

  private decodeVfio(section: SectionRecord): BodyExtent | undefined {
    const source = this.source.reset(section.bodyOffset);
    const vfio = this.attempt(vfioBodyDecoder(source));
    return vfio && { record: section, bodySize: source.offset - section.bodyOffset, decoding: 'vfio', vfio };
  }

  private decodeVmdesc(section: SectionRecord, device: VmdescDevice): BodyExtent | undefined {
    // The section's idstr names the body: the entry may be an earlier one worded the same.
    const flat = decodeFlatDeviceBody(this.bytes, section.bodyOffset, device, section.idstr);
    if (flat === null) return undefined;
    if (flat !== undefined) {
      const last = flat.fields[flat.fields.length - 1];
      return { record: section, bodySize: last === undefined ? 0 : last.offset + last.size - section.bodyOffset, decoding: 'vmdesc', fields: flat };
    }
    const source = this.source.reset(section.bodyOffset);
    const fields = this.attempt(deviceBodyDecoder(source, device, section.idstr));
    return fields && { record: section, bodySize: source.offset - section.bodyOffset, decoding: 'vmdesc', fields };
  }

  private decodeRam(section: SectionRecord, lastRamBlock: string | undefined): BodyExtent | undefined {
    const source = this.source.reset(section.bodyOffset);
    const ram = this.attempt(ramBodyDecoder(source, this.pageSize, lastRamBlock));
    return ram && { record: section, bodySize: source.offset - section.bodyOffset, decoding: 'ram', ram };
  }
}
