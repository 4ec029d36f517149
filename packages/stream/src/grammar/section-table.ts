import type { SectionIdentity } from './records.js';

/** Columns start this long and double. */
const INITIAL_IDS = 1024;
const INITIAL_NAME_BYTES = 1024;

/**
 * The identity of every section id seen in a START or FULL record, for the PART, END and
 * footers that name it (QEMU's loader keeps one per section too). QEMU numbers sections 0,
 * 1, 2, … in the order it registers them, so an id that is at most one past the highest
 * held so far goes into columns: the idstr's bytes in one growing buffer, instance and
 * version ids in typed arrays. A stream of 100k FULL sections then leaves no object per
 * section (no map of 100k entries, and nothing for the garbage collector to copy as the
 * parse goes on: `inspect` keeps no record, see `docs/design/hostile-input.md`, "Cost");
 * the identity is built again when a PART or END asks for it. Any other id (a hostile
 * 2^32 − 1) goes into a map.
 */
export class SectionTable {
  /** Dense ids held: `0 .. count)`. */
  private count = 0;
  private instanceIds = new Uint32Array(INITIAL_IDS);
  private versionIds = new Uint32Array(INITIAL_IDS);
  /** Where each id's idstr bytes are in {@link names}. */
  private nameStarts = new Float64Array(INITIAL_IDS);
  private nameEnds = new Float64Array(INITIAL_IDS);
  private names = Buffer.allocUnsafe(INITIAL_NAME_BYTES);
  private namesEnd = 0;
  private readonly sparse = new Map<number, SectionIdentity>();
  /** The identity {@link get} built last (a section's PARTs ask for the same one in a row). */
  private last: SectionIdentity | undefined;

  /**
   * Records the identity of `sectionId` (replacing an earlier one).
   * @param bytes holds the idstr as it came, at `[start, end)` (decoded, it is `idstr`)
   */
  set(sectionId: number, bytes: Uint8Array, start: number, end: number, idstr: string, instanceId: number, versionId: number): void {
    if (this.last?.sectionId === sectionId) this.last = undefined;
    const id = sectionId;
    if (id > this.count) {
      this.sparse.set(id, { sectionId, idstr, instanceId, versionId });
      return;
    }
    if (id === this.count) {
      if (id === this.instanceIds.length) this.growIds();
      this.count++;
      // An id held in the map until the columns reached it now lives in them.
      if (this.sparse.size > 0) this.sparse.delete(id);
    }
    const n = end - start;
    if (this.namesEnd + n > this.names.length) this.growNames(n);
    const names = this.names;
    const at = this.namesEnd;
    // At most 255 bytes: a loop costs less than TypedArray.set's call.
    for (let i = 0; i < n; i++) names[at + i] = bytes[start + i] as number;
    this.nameStarts[id] = at;
    this.namesEnd = at + n;
    this.nameEnds[id] = at + n;
    this.instanceIds[id] = instanceId;
    this.versionIds[id] = versionId;
  }

  /** The identity recorded under `sectionId`, if any. */
  get(sectionId: number): SectionIdentity | undefined {
    if (sectionId >= this.count) return this.sparse.get(sectionId);
    const last = this.last;
    if (last?.sectionId === sectionId) return last;
    const identity: SectionIdentity = {
      sectionId,
      idstr: this.names.toString('utf8', this.nameStarts[sectionId], this.nameEnds[sectionId]),
      instanceId: this.instanceIds[sectionId] as number,
      versionId: this.versionIds[sectionId] as number,
    };
    this.last = identity;
    return identity;
  }

  private growIds(): void {
    const n = this.instanceIds.length * 2;
    const instanceIds = new Uint32Array(n);
    instanceIds.set(this.instanceIds);
    this.instanceIds = instanceIds;
    const versionIds = new Uint32Array(n);
    versionIds.set(this.versionIds);
    this.versionIds = versionIds;
    const nameStarts = new Float64Array(n);
    nameStarts.set(this.nameStarts);
    this.nameStarts = nameStarts;
    const nameEnds = new Float64Array(n);
    nameEnds.set(this.nameEnds);
    this.nameEnds = nameEnds;
  }

  /** Makes room for `more` bytes of idstr. */
  private growNames(more: number): void {
    const names = Buffer.allocUnsafe(Math.max(this.names.length * 2, this.namesEnd + more));
    this.names.copy(names, 0, 0, this.namesEnd);
    this.names = names;
  }
}
