/** The VMDESCRIPTION at the end of a stream, found without parsing what comes before it. */
import { MAX_VMDESC_BYTES, RecordType, VmdescError, parseVmDescription, type VmDescription } from '@savevm/stream';

/** What {@link readTrailingVmdesc} found at the end of a stream. */
export interface TrailingVmdesc {
  /** The description, when there is one and it is valid. */
  readonly vmdesc: VmDescription | undefined;
  /** Why the one there was refused (bad JSON, bad shape, beyond the vmdesc's budget). */
  readonly error: VmdescError | undefined;
}

/**
 * Where the last `0x06, be32 J, J bytes of JSON` that ends exactly at the end of the bytes
 * and follows an EOF byte starts (its 0x06 byte), without decoding it; undefined when there
 * is none. The JSON is `bytes[offset + 5, bytes.length)`.
 */
export function trailingVmdescOffset(bytes: Uint8Array, searchWindow = MAX_VMDESC_BYTES): number | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lowest = Math.max(1, view.length - searchWindow);
  // Candidates (0x06 bytes) are found with lastIndexOf: valid JSON holds no raw 0x06 (a control
  // character), so the search jumps over a large vmdesc instead of testing each of its bytes.
  for (let from = view.length - 6; from >= lowest; ) {
    const p = view.lastIndexOf(RecordType.VMDESCRIPTION, from);
    if (p < lowest) break;
    from = p - 1;
    if (view[p + 5] !== 0x7b || view[p - 1] !== RecordType.EOF) continue;
    if (view.readUInt32BE(p + 1) !== view.length - p - 5) continue;
    return p;
  }
  return undefined;
}

/**
 * Finds the VMDESCRIPTION at the end of a stream without parsing what comes before it:
 * the last `0x06, be32 J, J bytes of JSON` that ends exactly at the end of the bytes and
 * follows an EOF byte; says why when it is refused (`parseVmDescription`'s bounds).
 */
export function readTrailingVmdesc(bytes: Uint8Array, searchWindow = MAX_VMDESC_BYTES): TrailingVmdesc {
  const p = trailingVmdescOffset(bytes, searchWindow);
  if (p === undefined) return { vmdesc: undefined, error: undefined };
  const json = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', p + 5);
  try {
    return { vmdesc: parseVmDescription(json, p), error: undefined };
  } catch (err) {
    if (err instanceof VmdescError) return { vmdesc: undefined, error: err };
    throw err;
  }
}

/**
 * The VMDESCRIPTION at the end of a stream (see {@link readTrailingVmdesc}); undefined when
 * there is none or it was refused.
 */
export function findTrailingVmdesc(bytes: Uint8Array, searchWindow = MAX_VMDESC_BYTES): VmDescription | undefined {
  return readTrailingVmdesc(bytes, searchWindow).vmdesc;
}
