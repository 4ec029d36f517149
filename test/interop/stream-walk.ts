/**
 * Record lists of whole migration streams, in the shape of `savevm inspect --json`:
 * {@link inspectRecords} goes through `@savevm/inspect`'s `inspectStream` (bodies sized by
 * decoding ram, vfio and vmdesc-described FULL sections); {@link parseWithKnownBodies}
 * drives the bare StreamParser, reading FULL bodies of sizes the caller knows, so a bad
 * stream surfaces the parser's own typed error.
 */
import { inspectStream, type BodyDecoding } from '@savevm/inspect';
import { MemoryReadChannel, QemuFileReader, StreamParser, type CommandRule, type StreamRecord } from '@savevm/stream';

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
  /** How inspectStream found the body's extent (sections, {@link inspectRecords} only). */
  readonly decoding?: BodyDecoding;
}

function toWalked(rec: StreamRecord, bodySize: number | undefined): WalkedRecord {
  const size = bodySize === undefined ? {} : { bodySize };
  switch (rec.type) {
    case 'header':
    case 'eof':
      return { type: rec.type, offset: rec.offset };
    case 'command':
      return { type: rec.type, offset: rec.offset, ...size };
    case 'configuration':
      return { type: rec.type, offset: rec.offset, machine: rec.machine };
    case 'vmdesc':
      return { type: rec.type, offset: rec.offset, ...size, json: rec.json };
    default: {
      const { type, offset, sectionId, idstr, instanceId, versionId } = rec;
      return { type, offset, sectionId, idstr, instanceId, versionId, ...size };
    }
  }
}

/**
 * Every record of `bytes` as `inspectStream` reports it (the newest QEMU's commands unless
 * `commands` says which); throws its typed error on a bad stream.
 */
export async function inspectRecords(bytes: Uint8Array, commands?: ReadonlyMap<number, CommandRule>): Promise<WalkedRecord[]> {
  const inspection = await inspectStream(bytes, commands === undefined ? {} : { commands });
  return inspection.records.map((r) => ({ ...toWalked(r.record, r.bodySize), ...(r.decoding ? { decoding: r.decoding } : {}) }));
}

/**
 * Parses `bytes` with a bare StreamParser, skipping each FULL body by the size given for
 * its idstr (live sections are not supported). Throws the parser's typed error
 * (StreamFormatError, StreamTruncatedError) on a bad stream. Commands are QEMU 7.2's unless
 * `commands` says which.
 */
export async function parseWithKnownBodies(
  bytes: Uint8Array,
  fullBodySizes: ReadonlyMap<string, number>,
  commands?: ReadonlyMap<number, CommandRule>,
): Promise<WalkedRecord[]> {
  const reader = new QemuFileReader(new MemoryReadChannel(bytes));
  const parser = new StreamParser(reader, commands === undefined ? {} : { commands });
  const out: WalkedRecord[] = [];
  for (let rec = await parser.next(); rec !== null; rec = await parser.next()) {
    let bodySize: number | undefined;
    if (rec.type === 'start' || rec.type === 'part' || rec.type === 'end') {
      throw new Error(`parseWithKnownBodies: live section ${rec.idstr} at ${rec.offset} is not supported`);
    }
    if (rec.type === 'full') {
      bodySize = fullBodySizes.get(rec.idstr);
      if (bodySize === undefined) throw new Error(`parseWithKnownBodies: no body size for ${rec.idstr}`);
      await reader.skip(bodySize, `the body of ${rec.idstr}`);
    } else if (rec.type === 'vmdesc') {
      bodySize = Buffer.byteLength(rec.json);
    } else if (rec.type === 'command') {
      bodySize = rec.payload.length;
    }
    out.push(toWalked(rec, bodySize));
  }
  return out;
}
