/**
 * Where a vmdesc's device entries are, as the scan (`vmdesc-scan.ts`) finds them: columns of
 * offsets and ids, no object per entry (see `docs/design/hostile-input.md`, "Cost").
 */

/** Where a checked vmdesc's device entries are; offsets are from the JSON text's first byte. */
export interface VmdescTable {
  /** The document's `page_size` when it is a number, else 4096 (as `parseVmDescription`). */
  readonly pageSize: number;
  /** Number of device entries. */
  readonly count: number;
  /** Where entry `i` starts (its `{`). */
  readonly starts: Int32Array;
  /** Where entry `i` ends (after its `}`). */
  readonly ends: Int32Array;
  /** Where the string token of entry `i`'s name starts (its opening quote). */
  readonly nameStarts: Int32Array;
  /** Where that token ends (after its closing quote). */
  readonly nameEnds: Int32Array;
  /** 1 when the bytes between the name's quotes are its characters (ASCII, no escape). */
  readonly plainNames: Uint8Array;
  /**
   * When entry `i` starts with `name` then `instance_id`: the entry whose text after its
   * instance id (its rest) is the same bytes as entry `i`'s — `i` itself when its rest was
   * checked token by token, an earlier entry when it was found equal to that one's and not
   * checked again; else -1.
   */
  readonly templates: Int32Array;
  /** Entry `i`'s `instance_id`. */
  readonly instanceIds: Float64Array;
}

/** The columns of a {@link VmdescTable} while the scan fills them; they grow by doubling. */
export class Columns {
  /** Entries added. The columns are those of {@link VmdescTable}, longer than `count`. */
  count = 0;
  starts: Int32Array;
  ends: Int32Array;
  nameStarts: Int32Array;
  nameEnds: Int32Array;
  plainNames: Uint8Array;
  templates: Int32Array;
  instanceIds: Float64Array;

  /** @param capacity entries first made room for */
  constructor(capacity: number) {
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.nameStarts = new Int32Array(capacity);
    this.nameEnds = new Int32Array(capacity);
    this.plainNames = new Uint8Array(capacity);
    this.templates = new Int32Array(capacity);
    this.instanceIds = new Float64Array(capacity);
  }

  /** A new entry starting at `start`; its index. */
  add(start: number): number {
    if (this.count === this.starts.length) this.grow();
    const i = this.count++;
    this.starts[i] = start;
    this.templates[i] = -1;
    return i;
  }

  private grow(): void {
    const n = this.starts.length * 2;
    const wider = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.starts = wider(this.starts, (k) => new Int32Array(k));
    this.ends = wider(this.ends, (k) => new Int32Array(k));
    this.nameStarts = wider(this.nameStarts, (k) => new Int32Array(k));
    this.nameEnds = wider(this.nameEnds, (k) => new Int32Array(k));
    this.plainNames = wider(this.plainNames, (k) => new Uint8Array(k));
    this.templates = wider(this.templates, (k) => new Int32Array(k));
    this.instanceIds = wider(this.instanceIds, (k) => new Float64Array(k));
  }
}
