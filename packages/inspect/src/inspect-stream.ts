import {
  MemoryReadChannel,
  NEWEST_COMMANDS,
  QemuFileReader,
  RecordType,
  StreamError,
  StreamParser,
  StreamTruncatedError,
  VmdescError,
  parseVmDescription,
  type SectionRecord,
  type StreamParserOptions,
  type StreamRecord,
  type VmDescription,
  type VmdescDevice,
} from '@savevm/stream';
import { isVfioIdstr } from '@savevm/vfio';
import { decodeRamBody, type RamBodySummary } from './ram-body.js';
import { decodeVfioBody, type VfioBodySummary } from './vfio-body.js';
import { decodeDeviceBody, type DecodedStruct } from './vmstate-body.js';

/** How a section body's extent was found. */
export type BodyDecoding = 'ram' | 'vfio' | 'vmdesc' | 'footer-scan';

/** A record with what inspection learned about it. */
export interface InspectedRecord {
  /** The record as the parser yielded it. */
  readonly record: StreamRecord;
  /** Section body size in bytes (sections), payload size (commands) or JSON size (vmdesc). */
  readonly bodySize?: number;
  /** How the body was decoded (sections only). */
  readonly decoding?: BodyDecoding;
  /** Field-by-field contents of a FULL section described by the vmdesc. */
  readonly fields?: DecodedStruct;
  /** RAM records of a `ram` section. */
  readonly ram?: RamBodySummary;
  /** Tags of a VFIO section. */
  readonly vfio?: VfioBodySummary;
}

/** Options of {@link inspectStream}: the parser's, and a signal that stops it. */
export interface InspectOptions extends StreamParserOptions {
  /**
   * Stops the inspection with an {@link InspectInterruptedError}: checked every
   * {@link RECORDS_PER_TURN} records, where the event loop is given a turn (so a signal
   * handler can run).
   */
  readonly signal?: AbortSignal | undefined;
}

/** Records inspected between two event-loop turns when a signal is given. */
export const RECORDS_PER_TURN = 1024;

/** The inspection was stopped by its signal. */
export class InspectInterruptedError extends Error {
  /** Why, as one code. */
  readonly reason = 'INTERRUPTED';

  /** @param offset where the inspection was when it stopped */
  constructor(readonly offset: number) {
    super(`inspection interrupted at byte offset ${offset}`);
    this.name = new.target.name;
  }
}

/** Gives the event loop a turn, then throws when `signal` aborted. */
async function turn(signal: AbortSignal, offset: number): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal.aborted) throw new InspectInterruptedError(offset);
}

/** The result of {@link inspectStream}. */
export interface StreamInspection {
  /** Every record in stream order. */
  readonly records: InspectedRecord[];
  /** The stream's own VMDESCRIPTION, when it had a valid one. */
  readonly vmdesc: VmDescription | undefined;
  /** Non-fatal findings (as QEMU would print them). */
  readonly warnings: string[];
}

const RECORD_TYPES = new Set<number>([
  RecordType.EOF,
  RecordType.SECTION_START,
  RecordType.SECTION_PART,
  RecordType.SECTION_END,
  RecordType.SECTION_FULL,
  RecordType.COMMAND,
]);

/** What {@link readTrailingVmdesc} found at the end of a stream. */
export interface TrailingVmdesc {
  /** The description, when there is one and it is valid. */
  readonly vmdesc: VmDescription | undefined;
  /** Why the one there was refused (bad JSON, bad shape, beyond the vmdesc's budget). */
  readonly error: VmdescError | undefined;
}

/**
 * Finds the VMDESCRIPTION at the end of a stream without parsing what comes before it:
 * the last `0x06, be32 J, J bytes of JSON` that ends exactly at the end of the bytes and
 * follows an EOF byte; says why when it is refused (`parseVmDescription`'s bounds).
 */
export function readTrailingVmdesc(bytes: Uint8Array, searchWindow = 64 * 1024 * 1024): TrailingVmdesc {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lowest = Math.max(1, view.length - searchWindow);
  for (let p = view.length - 6; p >= lowest; p--) {
    if (view[p] !== RecordType.VMDESCRIPTION || view[p + 5] !== 0x7b || view[p - 1] !== RecordType.EOF) continue;
    if (view.readUInt32BE(p + 1) !== view.length - p - 5) continue;
    try {
      return { vmdesc: parseVmDescription(view.subarray(p + 5).toString('utf8'), p), error: undefined };
    } catch (err) {
      if (err instanceof VmdescError) return { vmdesc: undefined, error: err };
      throw err;
    }
  }
  return { vmdesc: undefined, error: undefined };
}

/**
 * The VMDESCRIPTION at the end of a stream (see {@link readTrailingVmdesc}); undefined when
 * there is none or it was refused.
 */
export function findTrailingVmdesc(bytes: Uint8Array, searchWindow = 64 * 1024 * 1024): VmDescription | undefined {
  return readTrailingVmdesc(bytes, searchWindow).vmdesc;
}

/** Whether a footer for `sectionId` starts at `at`. */
function footerAt(bytes: Buffer, at: number, sectionId: number): boolean {
  return at + 5 <= bytes.length && bytes[at] === RecordType.SECTION_FOOTER && bytes.readUInt32BE(at + 1) === sectionId;
}

/**
 * A footer for `sectionId` followed by something that can start the next record (for
 * scanning blind). Only the section's own id is looked for: an opaque body often holds
 * `0x7e` and zeros, so a footer naming another section cannot be told from data.
 */
function plausibleFooterAt(bytes: Buffer, at: number, sectionId: number): boolean {
  if (!footerAt(bytes, at, sectionId)) return false;
  const next = bytes[at + 5];
  return next === undefined || RECORD_TYPES.has(next);
}

interface BodyExtent {
  size: number;
  footerFollows: boolean;
  decoding: BodyDecoding;
  fields?: DecodedStruct;
  ram?: RamBodySummary;
  vfio?: VfioBodySummary;
}

/** Look-ahead of a body decoder's reader: a counted string (1 + 255) and a VFIO tag window fit. */
const DECODE_LOOK_AHEAD = 1024;

async function tryDecode<T>(
  bytes: Buffer,
  section: SectionRecord,
  decode: (r: QemuFileReader) => Promise<T>,
): Promise<{ size: number; value: T; footerFollows: boolean } | undefined> {
  // A small look-ahead: one reader per section body, so no 32 KiB buffer to allocate and fill each time.
  const r = new QemuFileReader(new MemoryReadChannel(bytes.subarray(section.bodyOffset)), { startOffset: section.bodyOffset, lookAheadBytes: DECODE_LOOK_AHEAD });
  try {
    const value = await decode(r);
    return { size: r.offset - section.bodyOffset, value, footerFollows: footerAt(bytes, r.offset, section.sectionId) };
  } catch (err) {
    if (err instanceof StreamError) return undefined;
    throw err;
  }
}

function scanForFooter(bytes: Buffer, section: SectionRecord): number | undefined {
  for (let at = section.bodyOffset; at + 5 <= bytes.length; at++) {
    const i = bytes.indexOf(RecordType.SECTION_FOOTER, at);
    if (i < 0) break;
    if (plausibleFooterAt(bytes, i, section.sectionId)) return i - section.bodyOffset;
    at = i;
  }
  return undefined;
}

/**
 * Finds where a section body ends, as the destination's handler would: a body decoded by
 * its format and followed by its footer wins; a `ram` or VFIO body that decoded is trusted
 * even when no footer follows (the parser then reports the missing or wrong footer, as the
 * destination does, instead of a blind search swallowing the next records); otherwise the
 * section's footer is searched for; when there is none, a body the vmdesc decoded is trusted.
 */
async function findBodyExtent(
  bytes: Buffer,
  section: SectionRecord,
  device: VmdescDevice | undefined,
  pageSize: number,
  lastRamBlock: string | undefined,
): Promise<BodyExtent> {
  const decoded: BodyExtent[] = [];
  // VFIO first: its tags say more than the vmdesc's one opaque buffer for an old-style section.
  if (isVfioIdstr(section.idstr)) {
    const d = await tryDecode(bytes, section, decodeVfioBody);
    if (d) decoded.push({ size: d.size, decoding: 'vfio', vfio: d.value, footerFollows: d.footerFollows });
  }
  if (section.type === 'full' && device) {
    const d = await tryDecode(bytes, section, (r) => decodeDeviceBody(r, device));
    if (d) decoded.push({ size: d.size, decoding: 'vmdesc', fields: d.value, footerFollows: d.footerFollows });
  }
  if (section.idstr === 'ram') {
    const d = await tryDecode(bytes, section, (r) => decodeRamBody(r, pageSize, lastRamBlock));
    if (d) decoded.push({ size: d.size, decoding: 'ram', ram: d.value, footerFollows: d.footerFollows });
  }
  const confirmed = decoded.find((d) => d.footerFollows);
  if (confirmed) return confirmed;
  const selfDelimited = decoded.find((d) => d.decoding === 'vfio' || d.decoding === 'ram');
  if (selfDelimited) return selfDelimited;
  const scanned = scanForFooter(bytes, section);
  if (scanned !== undefined) return { size: scanned, decoding: 'footer-scan', footerFollows: true };
  const first = decoded[0];
  if (first) return first;
  throw new StreamTruncatedError(bytes.length, `the body and footer of section ${section.sectionId} (${section.idstr})`);
}

/**
 * Reads a whole stream held in memory and reports every record with its body size.
 * Section bodies are decoded where the format is known — `ram` records, VFIO tags, and
 * FULL sections field by field from the stream's own VMDESCRIPTION — and otherwise
 * delimited by their footer. Framing errors are thrown as typed {@link StreamError}s.
 * Commands are those of the newest QEMU unless `options.commands` says otherwise (QEMU
 * 10.0's SWITCHOVER_START included). With `options.signal`, it gives the event loop a turn
 * every {@link RECORDS_PER_TURN} records and stops when the signal aborted.
 */
export async function inspectStream(bytes: Uint8Array, options: InspectOptions = {}): Promise<StreamInspection> {
  const { signal, ...parserOptions } = options;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trailing = readTrailingVmdesc(buf);
  const vmdesc = trailing.vmdesc;
  const devices = new Map<string, VmdescDevice>();
  for (const d of vmdesc?.devices ?? []) devices.set(`${d.name}\u0000${d.instance_id}`, d);
  const pageSize = vmdesc?.page_size ?? 4096;
  const reader = new QemuFileReader(new MemoryReadChannel(buf));
  const parser = new StreamParser(reader, { ...parserOptions, commands: parserOptions.commands ?? NEWEST_COMMANDS });
  const records: InspectedRecord[] = [];
  let lastRamBlock: string | undefined;
  for (;;) {
    if (signal && records.length % RECORDS_PER_TURN === 0) await turn(signal, reader.offset);
    const record = await parser.next();
    if (!record) break;
    switch (record.type) {
      case 'start':
      case 'full':
      case 'part':
      case 'end': {
        const device = devices.get(`${record.idstr}\u0000${record.instanceId}`);
        const extent = await findBodyExtent(buf, record, device, pageSize, lastRamBlock);
        if (extent.ram) lastRamBlock = extent.ram.lastBlock;
        await reader.skip(extent.size, `the body of section ${record.sectionId}`);
        const { size, footerFollows: _footer, ...rest } = extent;
        records.push({ record, bodySize: size, ...rest });
        break;
      }
      case 'command':
        records.push({ record, bodySize: record.payload.length });
        break;
      case 'vmdesc':
        records.push({ record, bodySize: Buffer.byteLength(record.json, 'utf8') });
        break;
      default:
        records.push({ record });
    }
  }
  // The destination ignores the vmdesc, so a refused one is a warning, not an invalid stream.
  const warnings = trailing.error ? [`vmdescription not used (bodies are delimited by their footers): ${trailing.error.message}`, ...parser.warnings] : parser.warnings;
  return { records, vmdesc, warnings };
}
