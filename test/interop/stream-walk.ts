/**
 * Walks a whole migration stream with `@savevm/stream`'s StreamParser, reading every
 * section body it knows how to size: ram bodies are decoded record by record, FULL bodies
 * are sized from the stream's own vmdesc (or from sizes the caller gives). The result has
 * the shape of `savevm inspect --json` records.
 */
import {
  MemoryReadChannel,
  QemuFileReader,
  StreamParser,
  parseVmDescription,
  type QemuFileReader as Reader,
  type SectionRecord,
  type VmDescription,
  type VmdescField,
  type VmdescStruct,
} from '@savevm/stream';

/** One record of a walked stream. */
export interface WalkedRecord {
  /** Record kind. */
  readonly type: 'header' | 'configuration' | 'start' | 'part' | 'end' | 'full' | 'command' | 'eof' | 'vmdesc';
  /** Byte offset of the record. */
  readonly offset: number;
  /** Section id (sections). */
  readonly sectionId?: number;
  /** Owner's idstr (sections). */
  readonly idstr?: string;
  /** Instance id (sections). */
  readonly instanceId?: number;
  /** Version id (sections). */
  readonly versionId?: number;
  /** Body size (sections), or JSON size (vmdesc). */
  readonly bodySize?: number;
  /** Machine type (configuration). */
  readonly machine?: string;
  /** The JSON text (vmdesc). */
  readonly json?: string;
}

/** Options of {@link walkStream}. */
export interface WalkOptions {
  /** FULL body sizes by idstr, used before the vmdesc (e.g. for streams without one). */
  readonly fullBodySizes?: ReadonlyMap<string, number>;
}

const RAM_FLAG = { ZERO: 0x02, MEM_SIZE: 0x04, PAGE: 0x08, EOS: 0x10, CONTINUE: 0x20 } as const;
const PAGE_SIZE = 4096;

/** Reads one ram section body (QEMU 7.2 precopy records) up to and including EOS. */
async function skipRamBody(r: Reader): Promise<void> {
  for (;;) {
    const header = await r.getBe64('a ram record header');
    const flags = Number(header & 0xfffn);
    const addr = header & ~0xfffn;
    if (flags & RAM_FLAG.EOS) return;
    const kind = flags & ~RAM_FLAG.CONTINUE;
    if (kind === RAM_FLAG.MEM_SIZE) {
      let remaining = addr;
      while (remaining > 0n) {
        await r.getCountedString('a ram block idstr');
        remaining -= await r.getBe64('a ram block length');
      }
    } else if (kind === RAM_FLAG.ZERO || kind === RAM_FLAG.PAGE) {
      if (!(flags & RAM_FLAG.CONTINUE)) await r.getCountedString('a ram block idstr');
      if (kind === RAM_FLAG.ZERO) await r.getU8('a ram fill byte');
      else await r.skip(PAGE_SIZE, 'a ram page');
    } else {
      throw new Error(`ram record with unsupported flags 0x${flags.toString(16)} at ${r.offset - 8}`);
    }
  }
}

function fieldsSize(fields: readonly VmdescField[] | undefined): number {
  return (fields ?? []).reduce((sum, f) => sum + f.size * (f.array_len ?? 1), 0);
}

/** Bytes of sent subsections: 0x05, u8 length, name, be32 version, then the fields. */
function subsectionsSize(subs: readonly VmdescStruct[] | undefined): number {
  return (subs ?? []).reduce(
    (sum, s) => sum + 6 + Buffer.byteLength(s.vmsd_name) + fieldsSize(s.fields) + subsectionsSize(s.subsections),
    0,
  );
}

/** FULL body sizes keyed by `idstr/instance`, from a vmdesc. */
export function fullBodySizesFromVmdesc(desc: VmDescription): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const d of desc.devices) {
    const size = d.fields ? fieldsSize(d.fields) + subsectionsSize(d.subsections) : (d.size ?? 0);
    sizes.set(`${d.name}/${d.instance_id}`, size);
  }
  return sizes;
}

/** Finds the trailing vmdesc (0x06, be32 J, J bytes of JSON ending the stream), if any. */
export function findTrailingVmdesc(bytes: Uint8Array): VmDescription | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let p = buf.length - 6; p >= 0; p--) {
    if (buf[p] !== 0x06 || buf[p + 5] !== 0x7b || buf.readUInt32BE(p + 1) !== buf.length - p - 5) continue;
    try {
      return parseVmDescription(buf.subarray(p + 5).toString('utf8'));
    } catch {
      // not the vmdesc after all; keep looking
    }
  }
  return undefined;
}

async function skipSectionBody(
  r: Reader,
  rec: SectionRecord,
  given: ReadonlyMap<string, number> | undefined,
  described: () => Map<string, number>,
): Promise<void> {
  if (rec.idstr === 'ram') return skipRamBody(r);
  if (rec.type !== 'full') throw new Error(`cannot size the ${rec.type} body of live section ${rec.idstr}`);
  const size = given?.get(rec.idstr) ?? described().get(`${rec.idstr}/${rec.instanceId}`);
  if (size === undefined) throw new Error(`no body size for FULL section ${rec.idstr} instance ${rec.instanceId}`);
  await r.skip(size, `the body of ${rec.idstr}`);
}

/**
 * Parses every record of `bytes`, reading section bodies, and returns the records.
 * Throws the parser's typed error (StreamFormatError, StreamTruncatedError) on a bad stream.
 */
export async function walkStream(bytes: Uint8Array, options: WalkOptions = {}): Promise<WalkedRecord[]> {
  const reader = new QemuFileReader(new MemoryReadChannel(bytes));
  const parser = new StreamParser(reader);
  let sizes: Map<string, number> | undefined;
  const described = (): Map<string, number> => {
    sizes ??= (() => {
      const desc = findTrailingVmdesc(bytes);
      return desc ? fullBodySizesFromVmdesc(desc) : new Map<string, number>();
    })();
    return sizes;
  };
  const out: WalkedRecord[] = [];
  for (let rec = await parser.next(); rec !== null; rec = await parser.next()) {
    switch (rec.type) {
      case 'header':
      case 'eof':
      case 'command':
        out.push({ type: rec.type, offset: rec.offset });
        break;
      case 'configuration':
        out.push({ type: rec.type, offset: rec.offset, machine: rec.machine });
        break;
      case 'vmdesc':
        out.push({ type: rec.type, offset: rec.offset, bodySize: Buffer.byteLength(rec.json), json: rec.json });
        break;
      default: {
        await skipSectionBody(reader, rec, options.fullBodySizes, described);
        const { type, offset, sectionId, idstr, instanceId, versionId } = rec;
        out.push({ type, offset, sectionId, idstr, instanceId, versionId, bodySize: reader.offset - rec.bodyOffset });
      }
    }
  }
  return out;
}
