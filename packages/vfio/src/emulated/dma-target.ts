/**
 * What an emulated device's DMA reaches once the kernel attached it: the mappings of its
 * address space, and the kernel's own record of the writes (docs/design/vfio-dirty-tracking.md §5).
 */
import type { DmaMappingTable } from './dma-mappings.js';

/** An attached address space as a device's DMA engine sees it. */
export interface DmaTarget {
  /** What it is: a type1 container, an iommufd IOAS (no IOMMU tracking) or a HWPT. */
  readonly kind: 'type1' | 'iommufd-ioas' | 'iommufd-hwpt';
  /** The mappings the device can write. */
  readonly mappings: DmaMappingTable;
  /**
   * The kernel's record of a device write of `length` bytes at `iova`: type1's bitmap for
   * a write through `vfio_dma_rw()`, a HWPT's dirty bit; nothing where the kernel cannot see
   * the write.
   */
  recordWrite(iova: number, length: number): void;
}
