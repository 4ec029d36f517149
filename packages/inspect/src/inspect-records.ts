import { isUtf8 } from 'node:buffer';
import {
  MemoryReadChannel,
  type StreamError,
  QemuFileReader,
  StreamParser,
  type SectionRecord,
  type StreamParserOptions,
  type StreamRecord,
  type VmDescription,
  type VmdescRecord,
} from '@savevm/stream';
import { BodyExtents, type BodyDecoding } from './body-extent.js';
import type { RamBodySummary } from './ram-body.js';
import { StreamVmdesc } from './stream-vmdesc.js';
import type { VmdescLookup } from './vmdesc-entries.js';
import type { VfioBodySummary } from './vfio-body.js';
import type { DecodedStruct } from './vmstate-body.js';

/** A record with what inspection learned about it. */
export interface InspectedRecord {
  /**
   * The record as the parser yielded it. A `vmdesc` record's `json` is decoded from the
   * stream's bytes when it is first read.
   */
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

/** Options of {@link inspectRecords} and `inspectStream`: the parser's, and a signal that stops it. */
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

/** What {@link inspectRecords} knows once every record was handed over. */
export interface RecordsInspection {
  /** Non-fatal findings (as QEMU would print them). */
  readonly warnings: string[];
  /** The stream's own VMDESCRIPTION, parsed whole when first asked for; undefined when it had no valid one. */
  vmdesc(): VmDescription | undefined;
}

/** The vmdesc record at `offset`: its JSON decoded only when read, its size counted without decoding when it is UTF-8. */
function inspectedVmdesc(buf: Buffer, offset: number): InspectedRecord {
  const start = offset + 5;
  const bytes = buf.subarray(start, start + buf.readUInt32BE(offset + 1));
  let json: string | undefined;
  const record: VmdescRecord = {
    type: 'vmdesc',
    offset,
    get json(): string {
      json ??= bytes.toString('utf8');
      return json;
    },
  };
  // Valid UTF-8 decodes to a text that encodes back to the same bytes.
  return { record, bodySize: isUtf8(bytes) ? bytes.length : Buffer.byteLength(record.json, 'utf8') };
}

/**
 * What inspection makes of each record, one call per record: a small synchronous function
 * that the JIT optimizes on its own, so that the async loop around it stays short.
 */
class RecordInspector {
  /** The block the previous `ram` section's last page named. */
  private lastRamBlock: string | undefined;

  /**
   * @param buf the whole stream
   * @param devices the vmdesc's entries (none when it has none or was refused)
   * @param extents finds where section bodies end
   */
  constructor(
    private readonly buf: Buffer,
    private readonly devices: VmdescLookup | undefined,
    private readonly extents: BodyExtents,
  ) {}

  /** `record` with what inspection learned about it (a section's body is not consumed). */
  inspect(record: StreamRecord): InspectedRecord {
    switch (record.type) {
      case 'start':
      case 'full':
      case 'part':
      case 'end': {
        // Only a FULL section is decoded from its vmdesc entry.
        const device = record.type === 'full' && this.devices !== undefined ? this.devices.find(record.idstr, record.instanceId) : undefined;
        const extent = this.extents.find(record, device, this.lastRamBlock);
        if (extent.ram) this.lastRamBlock = extent.ram.lastBlock;
        return extent;
      }
      case 'command':
        return { record, bodySize: record.payload.length };
      case 'vmdesc':
        return inspectedVmdesc(this.buf, record.offset);
      default:
        return { record };
    }
  }
}

/**
 * Reads a whole stream held in memory and hands every record, with its body size, to
 * `onRecord` as soon as it is read, keeping none of them: what the inspection holds beside
 * the bytes is one record and the table of the vmdesc's entries, whatever the stream's
 * length (see `docs/design/hostile-input.md`, "Cost"). Section bodies are decoded where the
 * format is known — `ram` records, VFIO tags, and FULL sections field by field from the
 * stream's own VMDESCRIPTION — and otherwise delimited by their footer. The vmdesc is
 * checked whole before the first record (a refused one is not used, and a warning says
 * why); each FULL section's entry is parsed when the section is decoded. Framing errors are
 * thrown as typed {@link StreamError}s, after the records before them were handed over.
 * Commands are those of the newest QEMU unless `options.commands` says otherwise (QEMU
 * 10.0's SWITCHOVER_START included). With `options.signal`, it gives the event loop a turn
 * every {@link RECORDS_PER_TURN} records and stops when the signal aborted.
 *
 * A record whose header and body are in the reader's look-ahead costs no promise: records
 * are read with `StreamParser.read` and bodies decoded synchronously over the bytes.
 * @param onRecord called once per record, in stream order; what it keeps is its own
 */
export function inspectRecords(bytes: Uint8Array, onRecord: (item: InspectedRecord) => void, options: InspectOptions = {}): Promise<RecordsInspection> {
  return inspectWith(bytes, onRecord, options, false);
}

/**
 * {@link inspectRecords}, the vmdesc parsed whole at once when `wholeVmdesc` (`inspectStream`
 * returns it, so it parses it once, before the records, instead of entry by entry and
 * again at the end).
 */
export async function inspectWith(bytes: Uint8Array, onRecord: (item: InspectedRecord) => void, options: InspectOptions, wholeVmdesc: boolean): Promise<RecordsInspection> {
  const { signal, ...parserOptions } = options;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vmdesc = StreamVmdesc.find(buf, wholeVmdesc);
  const reader = new QemuFileReader(new MemoryReadChannel(buf));
  // The vmdesc's text is read from `buf` when wanted, not collected by the parser.
  const parser = new StreamParser(reader, { ...parserOptions, keepVmdescJson: false });
  const inspector = new RecordInspector(buf, vmdesc?.entries, new BodyExtents(buf, vmdesc?.pageSize ?? 4096));
  for (let count = 0; ; count++) {
    if (signal && count % RECORDS_PER_TURN === 0) await turn(signal, reader.offset);
    let record = parser.read();
    if (record instanceof Promise) record = await record;
    if (!record) break;
    const item = inspector.inspect(record);
    // A section's body is skipped here, as the parser leaves it.
    if (item.decoding !== undefined) {
      const size = item.bodySize as number;
      if (reader.available >= size) reader.takeSkip(size);
      else await reader.skip(size, `the body of section ${(record as SectionRecord).sectionId}`);
    }
    onRecord(item);
  }
  // The destination ignores the vmdesc, so a refused one is a warning, not an invalid stream.
  const error = vmdesc?.error;
  const warnings = error ? [`vmdescription not used (bodies are delimited by their footers): ${error.message}`, ...parser.warnings] : parser.warnings;
  return { warnings, vmdesc: () => vmdesc?.description() };
}
