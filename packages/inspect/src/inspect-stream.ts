import {
  MemoryReadChannel,
  type StreamError,
  NEWEST_COMMANDS,
  QemuFileReader,
  StreamParser,
  type SectionRecord,
  type StreamParserOptions,
  type StreamRecord,
  type VmDescription,
  type VmdescDevice,
} from '@savevm/stream';
import { BodyExtents, type BodyDecoding, type BodyExtent } from './body-extent.js';
import type { RamBodySummary } from './ram-body.js';
import { locateTrailingVmdesc } from './trailing-vmdesc.js';
import type { VfioBodySummary } from './vfio-body.js';
import type { DecodedStruct } from './vmstate-body.js';
import { VmdescIndex } from './vmdesc-index.js';

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

/** A section record with its body's extent, as {@link inspectStream} reports it. */
function inspectedSection(record: SectionRecord, extent: BodyExtent): InspectedRecord {
  const { size, decoding } = extent;
  if (extent.fields) return { record, bodySize: size, decoding, fields: extent.fields };
  if (extent.ram) return { record, bodySize: size, decoding, ram: extent.ram };
  if (extent.vfio) return { record, bodySize: size, decoding, vfio: extent.vfio };
  return { record, bodySize: size, decoding };
}

/**
 * Reads a whole stream held in memory and reports every record with its body size.
 * Section bodies are decoded where the format is known — `ram` records, VFIO tags, and
 * FULL sections field by field from the stream's own VMDESCRIPTION — and otherwise
 * delimited by their footer. Framing errors are thrown as typed {@link StreamError}s.
 * Commands are those of the newest QEMU unless `options.commands` says otherwise (QEMU
 * 10.0's SWITCHOVER_START included). With `options.signal`, it gives the event loop a turn
 * every {@link RECORDS_PER_TURN} records and stops when the signal aborted.
 *
 * A record whose header and body are in the reader's look-ahead costs no promise: records
 * are read with `StreamParser.read` and bodies decoded synchronously over the bytes (see
 * `docs/design/hostile-input.md`, "Cost").
 */
export async function inspectStream(bytes: Uint8Array, options: InspectOptions = {}): Promise<StreamInspection> {
  const { signal, ...parserOptions } = options;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trailing = locateTrailingVmdesc(buf);
  const vmdesc = trailing?.vmdesc;
  const devices = new VmdescIndex(vmdesc);
  const extents = new BodyExtents(buf, vmdesc?.page_size ?? 4096);
  const reader = new QemuFileReader(new MemoryReadChannel(buf));
  // The vmdesc's text is taken from `buf` (and was decoded once above), not collected again.
  const parser = new StreamParser(reader, { ...parserOptions, commands: parserOptions.commands ?? NEWEST_COMMANDS, keepVmdescJson: false });
  const records: InspectedRecord[] = [];
  let lastRamBlock: string | undefined;
  for (;;) {
    if (signal && records.length % RECORDS_PER_TURN === 0) await turn(signal, reader.offset);
    let record = parser.read();
    if (record instanceof Promise) record = await record;
    if (!record) break;
    switch (record.type) {
      case 'start':
      case 'full':
      case 'part':
      case 'end': {
        // Only a FULL section is decoded from its vmdesc entry.
        const device = record.type === 'full' ? devices.find(record.idstr, record.instanceId) : undefined;
        const extent = extents.find(record, device, lastRamBlock);
        if (extent.ram) lastRamBlock = extent.ram.lastBlock;
        if (reader.available >= extent.size) reader.takeSkip(extent.size);
        else await reader.skip(extent.size, `the body of section ${record.sectionId}`);
        records.push(inspectedSection(record, extent));
        break;
      }
      case 'command':
        records.push({ record, bodySize: record.payload.length });
        break;
      case 'vmdesc': {
        const json = trailing?.offset === record.offset ? trailing.json : buf.toString('utf8', record.offset + 5, record.offset + 5 + buf.readUInt32BE(record.offset + 1));
        records.push({ record: { ...record, json }, bodySize: Buffer.byteLength(json, 'utf8') });
        break;
      }
      default:
        records.push({ record });
    }
  }
  // The destination ignores the vmdesc, so a refused one is a warning, not an invalid stream.
  const warnings = trailing?.error ? [`vmdescription not used (bodies are delimited by their footers): ${trailing.error.message}`, ...parser.warnings] : parser.warnings;
  return { records, vmdesc, warnings };
}
