/**
 * A stream's own VMDESCRIPTION as the inspector uses it: checked whole before the first
 * record (a refused one is not used at all, and says why), each entry parsed only when its
 * FULL section is decoded, the whole document built only when asked for (see
 * `docs/design/hostile-input.md`, "Cost").
 */
import { VmdescError, parseVmDescription, type VmDescription } from '@savevm/stream';
import { trailingVmdescOffset } from './trailing-vmdesc.js';
import { VmdescEntries, type VmdescLookup } from './vmdesc-entries.js';
import { VmdescIndex } from './vmdesc-index.js';
import { scanVmdesc } from './vmdesc-scan.js';

const NONE: VmdescLookup = { find: () => undefined };

/** The vmdesc at the end of a stream, checked. */
export class StreamVmdesc {
  /** Its entries, by the section they describe (none when it was refused). */
  readonly entries: VmdescLookup;
  /** The target page size it gives (4096 when it gives none or was refused). */
  readonly pageSize: number;
  /** Why it was refused, if it was. */
  readonly error: VmdescError | undefined;
  private parsed: VmDescription | undefined;

  private constructor(
    /** Offset of its record's 0x06 byte. */
    readonly offset: number,
    private readonly json: Buffer,
    whole: boolean,
  ) {
    const table = whole ? undefined : scanVmdesc(json, 0, json.length);
    if (table !== undefined) {
      this.entries = new VmdescEntries(json, table);
      this.pageSize = table.pageSize;
      this.error = undefined;
      return;
    }
    // Wanted whole, or the scan could not vouch for it: parsed, which accepts it or says why not.
    try {
      this.parsed = parseVmDescription(json.toString('utf8'), offset);
      this.entries = new VmdescIndex(this.parsed);
      this.pageSize = this.parsed.page_size;
      this.error = undefined;
    } catch (err) {
      if (!(err instanceof VmdescError)) throw err;
      this.entries = NONE;
      this.pageSize = 4096;
      this.error = err;
    }
  }

  /**
   * The vmdesc at the end of `bytes` (the last `0x06, be32 J, J bytes of JSON` that ends
   * them and follows an EOF byte), checked; undefined when there is none.
   * @param whole parse the whole document at once (for a caller that wants it, see
   *   {@link description}) instead of scanning it and parsing entries one by one
   */
  static find(bytes: Buffer, whole = false): StreamVmdesc | undefined {
    const offset = trailingVmdescOffset(bytes);
    return offset === undefined ? undefined : new StreamVmdesc(offset, bytes.subarray(offset + 5), whole);
  }

  /** The whole document, parsed (once); undefined when it was refused. */
  description(): VmDescription | undefined {
    if (this.error !== undefined) return undefined;
    this.parsed ??= parseVmDescription(this.json.toString('utf8'), this.offset);
    return this.parsed;
  }
}
