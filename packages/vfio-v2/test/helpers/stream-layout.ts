/**
 * Checks a migration stream's VFIO sections byte by byte against docs/design/stream-format.md
 * §5, with a decoder written here from that note (not the package's): section header bytes,
 * footers, and the be64 tags of each body.
 */
import { inspectStream } from '@savevm/inspect';

/** The markers, written out from the table of stream-format.md §5. */
export const TAG = {
  END_OF_STATE: 0xffffffffef100001n,
  DEV_CONFIG_STATE: 0xffffffffef100002n,
  DEV_SETUP_STATE: 0xffffffffef100003n,
  DEV_DATA_STATE: 0xffffffffef100004n,
  DEV_INIT_DATA_SENT: 0xffffffffef100005n,
} as const;

/** One body element. */
export type BodyItem = { readonly tag: 'SETUP' | 'END' | 'INIT_DATA_SENT' | 'CONFIG' } | { readonly tag: 'DATA'; readonly size: number; readonly at: number };

/** A VFIO section as found in the stream. */
export interface VfioSection {
  /** start / part / end / full. */
  readonly type: 'start' | 'part' | 'end' | 'full';
  /** The idstr (from the START or FULL header). */
  readonly idstr: string;
  /** Section id. */
  readonly sectionId: number;
  /** Body elements in order. */
  readonly body: BodyItem[];
  /** Device data bytes of the body, concatenated. */
  readonly data: Buffer;
}

const TYPE_BYTE = { start: 0x01, part: 0x02, end: 0x03, full: 0x04 } as const;

/**
 * Finds the records with inspectStream (which must decode every vfio body as 'vfio'), then
 * re-reads each VFIO section's header, body and footer from the raw bytes.
 * @param configBytes for FULL sections: length of the config hook's bytes after DEV_CONFIG_STATE
 */
export async function vfioSections(bytes: Buffer, configBytes = 0): Promise<VfioSection[]> {
  const inspection = await inspectStream(bytes);
  const out: VfioSection[] = [];
  for (const r of inspection.records) {
    const rec = r.record;
    if (rec.type !== 'start' && rec.type !== 'part' && rec.type !== 'end' && rec.type !== 'full') continue;
    if (!rec.idstr.endsWith('/vfio')) continue;
    if (rec.type !== 'full' && r.decoding !== 'vfio') throw new Error(`inspectStream decoded ${rec.type} of ${rec.idstr} as ${r.decoding}`);
    // Header, by hand: type byte, be32 section id, then (START/FULL) counted idstr, be32 instance, be32 version.
    let p = rec.offset;
    if (bytes[p] !== TYPE_BYTE[rec.type]) throw new Error(`bad type byte at ${p}`);
    if (bytes.readUInt32BE(p + 1) !== rec.sectionId) throw new Error(`bad section id at ${p}`);
    p += 5;
    if (rec.type === 'start' || rec.type === 'full') {
      const len = bytes[p] as number;
      const idstr = bytes.subarray(p + 1, p + 1 + len).toString('latin1');
      if (idstr !== rec.idstr) throw new Error(`idstr ${idstr} ≠ ${rec.idstr}`);
      p += 1 + len;
      if (bytes.readUInt32BE(p) !== 0) throw new Error(`instance id ${bytes.readUInt32BE(p)} ≠ 0`);
      if (bytes.readUInt32BE(p + 4) !== 1) throw new Error(`version ${bytes.readUInt32BE(p + 4)} ≠ 1`);
      p += 8;
    }
    if (p !== rec.bodyOffset) throw new Error(`body of ${rec.type} at ${rec.bodyOffset}, expected ${p}`);
    const body: BodyItem[] = [];
    const data: Buffer[] = [];
    for (;;) {
      const tag = bytes.readBigUInt64BE(p);
      p += 8;
      if (tag === TAG.END_OF_STATE) {
        body.push({ tag: 'END' });
        break;
      }
      if (tag === TAG.DEV_INIT_DATA_SENT) {
        body.push({ tag: 'INIT_DATA_SENT' });
        break;
      }
      if (tag === TAG.DEV_SETUP_STATE) body.push({ tag: 'SETUP' });
      else if (tag === TAG.DEV_CONFIG_STATE) {
        body.push({ tag: 'CONFIG' });
        p += configBytes;
      } else if (tag === TAG.DEV_DATA_STATE) {
        const size = Number(bytes.readBigUInt64BE(p));
        p += 8;
        body.push({ tag: 'DATA', size, at: p });
        data.push(bytes.subarray(p, p + size));
        p += size;
      } else throw new Error(`unknown tag 0x${tag.toString(16)} at ${p - 8}`);
    }
    // Footer: 0x7E, be32 section id.
    if (bytes[p] !== 0x7e || bytes.readUInt32BE(p + 1) !== rec.sectionId) throw new Error(`no footer for section ${rec.sectionId} at ${p}`);
    out.push({ type: rec.type, idstr: rec.idstr, sectionId: rec.sectionId, body, data: Buffer.concat(data) });
  }
  return out;
}

/** The body as a compact string, e.g. `SETUP END` or `DATA(1048576) DATA(12) END`. */
export function bodyShape(section: VfioSection): string {
  return section.body.map((b) => (b.tag === 'DATA' ? `DATA(${b.size})` : b.tag)).join(' ');
}
