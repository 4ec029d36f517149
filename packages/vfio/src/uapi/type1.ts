/**
 * Numeric constants of the type1 IOMMU backend of a VFIO container (`/dev/vfio/vfio`):
 * the DMA map/unmap ioctls, GET_INFO and its capabilities, and dirty-page tracking
 * (docs/design/vfio-dirty-tracking.md §1).
 */
import { vfioIoctl } from './constants.js';

/** ioctl request numbers issued on a type1 container fd. */
export const VfioIommuIoctl = {
  /** `VFIO_IOMMU_GET_INFO` (0x3b70): page sizes and a capability chain (MIGRATION, DMA_AVAIL, IOVA_RANGE). */
  GET_INFO: vfioIoctl(12),
  /** `VFIO_IOMMU_MAP_DMA` (0x3b71): maps user memory at an IOVA. */
  MAP_DMA: vfioIoctl(13),
  /** `VFIO_IOMMU_UNMAP_DMA` (0x3b72): unmaps an IOVA range, optionally fetching its dirty bitmap first. */
  UNMAP_DMA: vfioIoctl(14),
  /** `VFIO_IOMMU_DIRTY_PAGES` (0x3b75, the number of VFIO_DEVICE_FEATURE on a device fd): START, STOP, GET_BITMAP. */
  DIRTY_PAGES: vfioIoctl(17),
} as const;

/** `vfio_iommu_type1_info.flags` bits. */
export const Type1InfoFlags = {
  /** `iova_pgsizes` is valid (always set). */
  PGSIZES: 1 << 0,
  /** A capability chain is present (or would be, when `argsz` was too small). */
  CAPS: 1 << 1,
} as const;

/** Capability ids of the GET_INFO chain. */
export const Type1CapId = {
  /** `VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE` (1): the usable IOVA ranges. */
  IOVA_RANGE: 1,
  /** `VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION` (2): dirty-page tracking is available, its page size and largest bitmap. */
  MIGRATION: 2,
  /** `VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL` (3): how many more DMA mappings the container takes. */
  DMA_AVAIL: 3,
} as const;

/** `vfio_iommu_type1_dma_map.flags` bits. */
export const DmaMapFlags = {
  /** The device may read the mapping. */
  READ: 1 << 0,
  /** The device may write the mapping. */
  WRITE: 1 << 1,
  /** Replace the user address of an existing mapping (live update); not used here. */
  VADDR: 1 << 2,
} as const;

/** `vfio_iommu_type1_dma_unmap.flags` bits. */
export const DmaUnmapFlags = {
  /** A `vfio_bitmap` follows the struct: the kernel fills it with the range's dirty pages before unmapping. */
  GET_DIRTY_BITMAP: 1 << 0,
  /** Unmap everything (iova and size must be 0). */
  ALL: 1 << 1,
  /** Invalidate the user address of the mapping, keeping the mapping (live update). */
  VADDR: 1 << 2,
} as const;

/** `vfio_iommu_type1_dirty_bitmap.flags`: exactly one per call. */
export const DirtyPagesFlags = {
  /** Start tracking (idempotent). */
  START: 1 << 0,
  /** Stop tracking and free the kernel's bitmaps (idempotent). */
  STOP: 1 << 1,
  /** Fill a user bitmap for a range (a `vfio_iommu_type1_dirty_bitmap_get` follows). */
  GET_BITMAP: 1 << 2,
} as const;

/** The most pages one dirty bitmap may cover (INT_MAX). */
export const DIRTY_BITMAP_PAGES_MAX = 2 ** 31 - 1;
/** The largest dirty bitmap the kernel accepts, bytes (`DIRTY_BITMAP_SIZE_MAX`, 256 MiB: 8 TiB of 4 KiB pages). */
export const DIRTY_BITMAP_SIZE_MAX = 268435456;
/** The default limit of DMA mappings per container (`dma_entry_limit`, U16_MAX). */
export const DMA_ENTRY_LIMIT_DEFAULT = 65535;

/**
 * Bytes of a dirty bitmap for `pages` pages as the kernel sizes it: whole u64 words
 * (`DIRTY_BITMAP_BYTES`).
 */
export function dirtyBitmapBytes(pages: number): number {
  return Math.ceil(pages / 64) * 8;
}
