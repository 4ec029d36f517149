/**
 * Byte-exact codecs of the type1 container structs (docs/design/vfio-dirty-tracking.md §1,
 * "Layouts"). u64 fields decode as bigint; pointers are u64 user addresses.
 */
import { defineStruct, type StructValue } from './codec.js';

/** Field table of `vfio_iommu_type1_info`. */
export type Type1InfoFields = {
  /** Size of the caller's buffer; the kernel raises it when the capabilities do not fit. */
  argsz: 'u32';
  /** {@link Type1InfoFlags}: PGSIZES, CAPS. */
  flags: 'u32';
  /** Bitmap of the IOMMU page sizes the container supports. */
  iova_pgsizes: 'u64';
  /** Offset of the first capability from the start of the struct; 0 when none was copied. */
  cap_offset: 'u32';
  /** Padding. */
  pad: 'u32';
};
/** `struct vfio_iommu_type1_info` (24 bytes; capabilities follow). */
export const Type1Info = defineStruct<Type1InfoFields>('vfio_iommu_type1_info', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iova_pgsizes: [8, 'u64'],
  cap_offset: [16, 'u32'],
  pad: [20, 'u32'],
});
/** Decoded `vfio_iommu_type1_info`. */
export type Type1Info = StructValue<Type1InfoFields>;
/** The smallest `argsz` GET_INFO accepts (the end of `iova_pgsizes`). */
export const TYPE1_INFO_MIN_ARGSZ = 16;

/** Field table of `vfio_iommu_type1_info_cap_migration`. */
export type Type1CapMigrationFields = {
  /** Capability id (2). */
  id: 'u16';
  /** Layout version (1). */
  version: 'u16';
  /** Offset of the next capability from the start of the info struct; 0 ends the chain. */
  next: 'u32';
  /** Always 0. */
  flags: 'u32';
  /** Padding (the u64 after it is 8-aligned). */
  pad: 'u32';
  /** The page sizes a dirty bitmap may use: only the smallest IOMMU page. */
  pgsize_bitmap: 'u64';
  /** The largest dirty bitmap, bytes. */
  max_dirty_bitmap_size: 'u64';
};
/** `struct vfio_iommu_type1_info_cap_migration` (32 bytes, cap id 2). */
export const Type1CapMigration = defineStruct<Type1CapMigrationFields>('vfio_iommu_type1_info_cap_migration', 32, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
  flags: [8, 'u32'],
  pad: [12, 'u32'],
  pgsize_bitmap: [16, 'u64'],
  max_dirty_bitmap_size: [24, 'u64'],
});
/** Decoded migration capability. */
export type Type1CapMigration = StructValue<Type1CapMigrationFields>;

/** Field table of `vfio_iommu_type1_info_dma_avail`. */
export type Type1CapDmaAvailFields = {
  /** Capability id (3). */
  id: 'u16';
  /** Layout version (1). */
  version: 'u16';
  /** Offset of the next capability; 0 ends the chain. */
  next: 'u32';
  /** How many more DMA mappings the container accepts. */
  avail: 'u32';
};
/** `struct vfio_iommu_type1_info_dma_avail` (12 bytes; 16 in the chain, padded to 8). */
export const Type1CapDmaAvail = defineStruct<Type1CapDmaAvailFields>('vfio_iommu_type1_info_dma_avail', 12, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
  avail: [8, 'u32'],
});
/** Decoded DMA_AVAIL capability. */
export type Type1CapDmaAvail = StructValue<Type1CapDmaAvailFields>;

/** Field table of the head of `vfio_iommu_type1_info_cap_iova_range`. */
export type Type1CapIovaRangeFields = {
  /** Capability id (1). */
  id: 'u16';
  /** Layout version (1). */
  version: 'u16';
  /** Offset of the next capability; 0 ends the chain. */
  next: 'u32';
  /** Number of `{start, end}` ranges that follow. */
  nr_iovas: 'u32';
  /** Padding. */
  reserved: 'u32';
};
/** Head of `struct vfio_iommu_type1_info_cap_iova_range` (16 bytes; `vfio_iova_range`s follow). */
export const Type1CapIovaRangeHead = defineStruct<Type1CapIovaRangeFields>('vfio_iommu_type1_info_cap_iova_range', 16, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
  nr_iovas: [8, 'u32'],
  reserved: [12, 'u32'],
});
/** Decoded IOVA_RANGE head. */
export type Type1CapIovaRangeHead = StructValue<Type1CapIovaRangeFields>;

/** Field table of `vfio_iova_range`. */
export type IovaRangeFields = {
  /** First usable IOVA. */
  start: 'u64';
  /** Last usable IOVA (inclusive). */
  end: 'u64';
};
/** `struct vfio_iova_range` (16 bytes). */
export const IovaRange = defineStruct<IovaRangeFields>('vfio_iova_range', 16, { start: [0, 'u64'], end: [8, 'u64'] });
/** Decoded IOVA range. */
export type IovaRange = StructValue<IovaRangeFields>;

/** Field table of `vfio_iommu_type1_dma_map`. */
export type Type1DmaMapFields = {
  /** 32. */
  argsz: 'u32';
  /** {@link DmaMapFlags}: READ, WRITE (VADDR not used). */
  flags: 'u32';
  /** User address of the memory to map (page-aligned). */
  vaddr: 'u64';
  /** IOVA to map it at (page-aligned). */
  iova: 'u64';
  /** Bytes (whole pages). */
  size: 'u64';
};
/** `struct vfio_iommu_type1_dma_map` (32 bytes). */
export const Type1DmaMap = defineStruct<Type1DmaMapFields>('vfio_iommu_type1_dma_map', 32, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  vaddr: [8, 'u64'],
  iova: [16, 'u64'],
  size: [24, 'u64'],
});
/** Decoded DMA map request. */
export type Type1DmaMap = StructValue<Type1DmaMapFields>;

/** Field table of `vfio_bitmap`. */
export type VfioBitmapFields = {
  /** Bytes one bit covers (must be the smallest IOMMU page). */
  pgsize: 'u64';
  /** Bytes of the user bitmap. */
  size: 'u64';
  /** User address of the bitmap (u64 words; zero it first: the kernel only writes mapped ranges). */
  data: 'u64';
};
/** `struct vfio_bitmap` (24 bytes). */
export const VfioBitmap = defineStruct<VfioBitmapFields>('vfio_bitmap', 24, {
  pgsize: [0, 'u64'],
  size: [8, 'u64'],
  data: [16, 'u64'],
});
/** Decoded `vfio_bitmap`. */
export type VfioBitmap = StructValue<VfioBitmapFields>;

/** Field table of `vfio_iommu_type1_dma_unmap`. */
export type Type1DmaUnmapFields = {
  /** 24, or 48 with GET_DIRTY_BITMAP (a `vfio_bitmap` follows at 24). */
  argsz: 'u32';
  /** {@link DmaUnmapFlags}. */
  flags: 'u32';
  /** First IOVA to unmap. */
  iova: 'u64';
  /** Bytes to unmap; on return, the bytes actually unmapped. */
  size: 'u64';
};
/** `struct vfio_iommu_type1_dma_unmap` (24 bytes; `data[]` at 24). */
export const Type1DmaUnmap = defineStruct<Type1DmaUnmapFields>('vfio_iommu_type1_dma_unmap', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iova: [8, 'u64'],
  size: [16, 'u64'],
});
/** Decoded unmap request. */
export type Type1DmaUnmap = StructValue<Type1DmaUnmapFields>;

/** Field table of `vfio_iommu_type1_dirty_bitmap`. */
export type Type1DirtyBitmapFields = {
  /** 8, or 48 with GET_BITMAP (a `vfio_iommu_type1_dirty_bitmap_get` follows at 8). */
  argsz: 'u32';
  /** One of {@link DirtyPagesFlags}. */
  flags: 'u32';
};
/** `struct vfio_iommu_type1_dirty_bitmap` (8 bytes; `data[]` at 8). */
export const Type1DirtyBitmap = defineStruct<Type1DirtyBitmapFields>('vfio_iommu_type1_dirty_bitmap', 8, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
});
/** Decoded DIRTY_PAGES header. */
export type Type1DirtyBitmap = StructValue<Type1DirtyBitmapFields>;

/** Field table of `vfio_iommu_type1_dirty_bitmap_get`. */
export type Type1DirtyBitmapGetFields = {
  /** First IOVA of the range (must start a mapping). */
  iova: 'u64';
  /** Bytes of the range (must end a mapping). */
  size: 'u64';
  /** `bitmap.pgsize` (the `vfio_bitmap` at 16). */
  pgsize: 'u64';
  /** `bitmap.size`, bytes. */
  bitmap_size: 'u64';
  /** `bitmap.data`, the user address. */
  data: 'u64';
};
/** `struct vfio_iommu_type1_dirty_bitmap_get` (40 bytes: iova, size, then a `vfio_bitmap`, flattened). */
export const Type1DirtyBitmapGet = defineStruct<Type1DirtyBitmapGetFields>('vfio_iommu_type1_dirty_bitmap_get', 40, {
  iova: [0, 'u64'],
  size: [8, 'u64'],
  pgsize: [16, 'u64'],
  bitmap_size: [24, 'u64'],
  data: [32, 'u64'],
});
/** Decoded GET_BITMAP payload. */
export type Type1DirtyBitmapGet = StructValue<Type1DirtyBitmapGetFields>;
