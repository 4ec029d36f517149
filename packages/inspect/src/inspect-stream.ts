import type { VmDescription } from '@savevm/stream';
import { inspectWith, type InspectedRecord, type InspectOptions } from './inspect-records.js';

/** The result of {@link inspectStream}. */
export interface StreamInspection {
  /** Every record in stream order. */
  readonly records: InspectedRecord[];
  /** The stream's own VMDESCRIPTION, when it had a valid one. */
  readonly vmdesc: VmDescription | undefined;
  /** Non-fatal findings (as QEMU would print them). */
  readonly warnings: string[];
}

/**
 * Reads a whole stream held in memory and reports every record with its body size, and the
 * stream's own VMDESCRIPTION parsed: `inspectRecords` with every record collected (and the
 * vmdesc parsed whole at once, as it is returned).
 * What it holds grows with the stream (hundreds of bytes per section); a reader that only
 * prints or counts the records uses `inspectRecords` (see `docs/design/hostile-input.md`,
 * "Cost"). Framing errors are thrown as typed `StreamError`s.
 */
export async function inspectStream(bytes: Uint8Array, options: InspectOptions = {}): Promise<StreamInspection> {
  const records: InspectedRecord[] = [];
  const { warnings, vmdesc } = await inspectWith(bytes, (item) => void records.push(item), options, true);
  return { records, vmdesc: vmdesc(), warnings };
}
