/**
 * The IOVA mappings of one emulated I/O address space (a type1 container or an iommufd
 * IOAS): each maps a run of IOVA to the user memory behind it, so an emulated device's DMA
 * lands in the VMM's own buffers (docs/design/vfio-dirty-tracking.md §5).
 */

/** The emulated 4 KiB IOMMU page. */
export const IOMMU_PAGE = 4096;

/** One mapping: `size` bytes of IOVA from `iova`, backed by `bytes`. */
export interface DmaMapping {
  /** First IOVA (page-aligned). */
  readonly iova: number;
  /** Bytes (whole pages). */
  readonly size: number;
  /** The user memory behind it (a view, no copy). */
  readonly bytes: Uint8Array;
  /** Whether a device may write it. */
  readonly writable: boolean;
}

/** Mappings kept sorted by IOVA, never overlapping. */
export class DmaMappingTable {
  #list: DmaMapping[] = [];

  /** The mappings, by IOVA. */
  get mappings(): readonly DmaMapping[] {
    return this.#list;
  }

  /** Bytes mapped in all. */
  get totalBytes(): number {
    let n = 0;
    for (const m of this.#list) n += m.size;
    return n;
  }

  /** The mapping that holds `iova`, if any. */
  find(iova: number): DmaMapping | undefined {
    const i = this.#indexAtOrBefore(iova);
    const m = i < 0 ? undefined : this.#list[i];
    return m !== undefined && iova < m.iova + m.size ? m : undefined;
  }

  /** Whether any mapping meets `[iova, iova + size)`. */
  overlaps(iova: number, size: number): boolean {
    return this.within(iova, iova + size - 1).length > 0 || this.find(iova) !== undefined;
  }

  /** The mappings that meet the inclusive range `[first, last]`, by IOVA. */
  within(first: number, last: number): DmaMapping[] {
    return this.#list.filter((m) => m.iova <= last && m.iova + m.size - 1 >= first);
  }

  /** Adds a mapping (the caller checked it overlaps nothing). */
  add(mapping: DmaMapping): void {
    const i = this.#indexAtOrBefore(mapping.iova);
    this.#list.splice(i + 1, 0, mapping);
  }

  /** Removes a mapping. */
  remove(mapping: DmaMapping): void {
    const i = this.#list.indexOf(mapping);
    if (i >= 0) this.#list.splice(i, 1);
  }

  /** The lowest page-aligned IOVA at or above `from` where `size` bytes fit between mappings. */
  freeRange(size: number, from = IOMMU_PAGE): number {
    let at = from;
    for (const m of this.#list) {
      if (m.iova + m.size <= at) continue;
      if (m.iova >= at + size) break;
      at = m.iova + m.size;
    }
    return at;
  }

  #indexAtOrBefore(iova: number): number {
    let lo = 0;
    let hi = this.#list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#list[mid] as DmaMapping).iova <= iova) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
