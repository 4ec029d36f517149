/**
 * Section id → list position of its entry (QEMU `load_section_id`), for the PART, END and
 * footers that name a section by id. QEMU numbers sections 0, 1, 2, … in registration order,
 * so an id at most one past the highest held so far goes into an array; any other id (a
 * hostile 2^32 − 1) into a map. A load of 10,000 FULL sections then fills no map of 10,000
 * entries (docs/design/hostile-input.md, "Cost").
 */
export class SectionIndex {
  private readonly dense: number[] = [];
  private readonly sparse = new Map<number, number>();

  /** Records the list position of the entry whose START/FULL carried `sectionId`. */
  set(sectionId: number, index: number): void {
    const dense = this.dense;
    if (sectionId < dense.length) dense[sectionId] = index;
    else if (sectionId === dense.length) {
      dense.push(index);
      // An id held in the map until the array reached it now lives in the array.
      if (this.sparse.size > 0) this.sparse.delete(sectionId);
    } else this.sparse.set(sectionId, index);
  }

  /** The list position recorded under `sectionId`, if any. */
  get(sectionId: number): number | undefined {
    return sectionId < this.dense.length ? this.dense[sectionId] : this.sparse.get(sectionId);
  }
}
