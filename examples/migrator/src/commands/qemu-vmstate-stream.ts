/**
 * A whole QEMU stream through QEMU's own descriptions (`savevm inspect --vmstate`): every
 * FULL section decoded with `@savevm/core/qemu-vmstate` from the dump and the stream's
 * vmdesc, and the stream written back with each FULL section encoded by the engine and
 * every other record as it came (see `docs/design/qemu-vmstate.md`, "Re-encoding").
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import {
  decodeQemuSection,
  encodeQemuSection,
  parseQemuVmstateDump,
  QemuSectionError,
  type DecodedQemuSection,
  type QemuVmstateDump,
} from '@savevm/core/qemu-vmstate';
import type { StreamInspection } from '@savevm/inspect';
import { ByteArrayWriter, SECTION_FOOTER_SIZE, isSectionFooterAt, writeSectionFooter, writeSectionFull, type VmdescDevice } from '@savevm/stream';

/** Reads a `-dump-vmstate` file, gzipped or not. */
export async function readVmstateDump(path: string): Promise<QemuVmstateDump> {
  const raw = await readFile(path);
  const text = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return parseQemuVmstateDump(text);
}

/** The FULL sections of an inspected stream, decoded, by the offset of their record. */
export type DecodedSections = ReadonlyMap<number, DecodedQemuSection>;

/**
 * Decodes every FULL section of `bytes` (already inspected) through `dump` and the stream's
 * vmdesc.
 * @throws QemuSectionError for the first section without a description or whose bytes do not decode
 */
export async function decodeFullSections(bytes: Buffer, inspection: StreamInspection, dump: QemuVmstateDump): Promise<DecodedSections> {
  // One lookup table, not a search of the whole device list per section.
  const vmdescOf = new Map<string, VmdescDevice>();
  for (const d of inspection.vmdesc?.devices ?? []) {
    const key = `${d.name}#${d.instance_id}`;
    if (!vmdescOf.has(key)) vmdescOf.set(key, d);
  }
  const out = new Map<number, DecodedQemuSection>();
  for (const item of inspection.records) {
    const r = item.record;
    if (r.type !== 'full') continue;
    if (item.bodySize === undefined) {
      throw new QemuSectionError({ reason: 'WRONG_LENGTH', section: `${r.idstr}#${r.instanceId}`, offset: r.bodyOffset, detail: 'the body could not be delimited' });
    }
    const decoded = await decodeQemuSection(
      {
        idstr: r.idstr,
        instanceId: r.instanceId,
        versionId: r.versionId,
        body: bytes.subarray(r.bodyOffset, r.bodyOffset + item.bodySize),
        bodyOffset: r.bodyOffset,
        vmdesc: vmdescOf.get(`${r.idstr}#${r.instanceId}`),
      },
      dump,
    );
    out.set(r.offset, decoded);
  }
  return out;
}

/** What {@link reencodeStream} did. */
export interface ReencodedStream {
  /** The stream written back. */
  readonly bytes: Buffer;
  /** FULL sections written through the engine's encoder. */
  readonly sections: number;
  /** Of them, the ones whose bytes differ from the stream's (none for a faithful description). */
  readonly differing: readonly string[];
}

/**
 * Writes the stream back: each FULL section's header, body and footer from its decoded
 * fields (header and footer through the stream writer, the body through the engine's
 * encoder), every other byte as it came.
 */
export async function reencodeStream(bytes: Buffer, inspection: StreamInspection, sections: DecodedSections): Promise<ReencodedStream> {
  const parts: Buffer[] = [];
  const differing: string[] = [];
  let copied = 0;
  for (const item of inspection.records) {
    const r = item.record;
    const decoded = sections.get(r.offset);
    if (r.type !== 'full' || decoded === undefined) continue;
    const bodyEnd = r.bodyOffset + decoded.input.body.length;
    parts.push(bytes.subarray(copied, r.offset));
    const w = new ByteArrayWriter(decoded.input.body.length + 300);
    writeSectionFull(w, r);
    const body = await encodeQemuSection(decoded);
    w.putBuffer(body);
    if (!body.equals(decoded.input.body)) differing.push(decoded.section);
    // QEMU's `send-section-footer` is on in every stream since 2.x machines; an older one has none.
    const footer = isSectionFooterAt(bytes, bodyEnd, r.sectionId);
    if (footer) writeSectionFooter(w, r.sectionId);
    parts.push(w.bytes());
    copied = bodyEnd + (footer ? SECTION_FOOTER_SIZE : 0);
  }
  parts.push(bytes.subarray(copied));
  return { bytes: Buffer.concat(parts), sections: sections.size, differing };
}

