import type { SectionIdentity } from './records.js';

/**
 * The identity of every section id seen in a START or FULL record, for the PART, END and
 * footers that name it. QEMU numbers sections 0, 1, 2, … in the order it registers them, so
 * an id that is at most one past the highest held so far goes into an array (a stream of
 * 100k FULL sections costs no map of 100k entries, see `docs/design/hostile-input.md`,
 * "Cost"); any other id (a hostile 2^32 − 1) goes into a map.
 */
export class SectionTable {
  private readonly dense: SectionIdentity[] = [];
  private readonly sparse = new Map<number, SectionIdentity>();

  /** Records `identity` under its section id (replacing an earlier one). */
  set(identity: SectionIdentity): void {
    const id = identity.sectionId;
    const dense = this.dense;
    if (id < dense.length) dense[id] = identity;
    else if (id === dense.length) {
      dense.push(identity);
      // An id held in the map until the array reached it now lives in the array.
      if (this.sparse.size > 0) this.sparse.delete(id);
    } else this.sparse.set(id, identity);
  }

  /** The identity recorded under `sectionId`, if any. */
  get(sectionId: number): SectionIdentity | undefined {
    return sectionId < this.dense.length ? this.dense[sectionId] : this.sparse.get(sectionId);
  }
}
