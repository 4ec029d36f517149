/**
 * Byte-exact codecs of the iommufd structs used for DMA mapping and dirty tracking
 * (docs/design/vfio-dirty-tracking.md §2). Every struct starts with its own `size`.
 */
import { defineStruct, type StructValue } from './codec.js';

/** Field table of `iommu_destroy`. */
export type IommuDestroyFields = {
  /** 8. */
  size: 'u32';
  /** The object to destroy. */
  id: 'u32';
};
/** `struct iommu_destroy` (8 bytes). */
export const IommuDestroy = defineStruct<IommuDestroyFields>('iommu_destroy', 8, { size: [0, 'u32'], id: [4, 'u32'] });
/** Decoded `iommu_destroy`. */
export type IommuDestroy = StructValue<IommuDestroyFields>;

/** Field table of `iommu_ioas_alloc`. */
export type IoasAllocFields = {
  /** 12. */
  size: 'u32';
  /** Must be 0. */
  flags: 'u32';
  /** Output: the new IOAS id. */
  out_ioas_id: 'u32';
};
/** `struct iommu_ioas_alloc` (12 bytes). */
export const IoasAlloc = defineStruct<IoasAllocFields>('iommu_ioas_alloc', 12, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  out_ioas_id: [8, 'u32'],
});
/** Decoded `iommu_ioas_alloc`. */
export type IoasAlloc = StructValue<IoasAllocFields>;

/** Field table of `iommu_ioas_map`. */
export type IoasMapFields = {
  /** 40. */
  size: 'u32';
  /** {@link IoasMapFlags}. */
  flags: 'u32';
  /** The IOAS to map into. */
  ioas_id: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
  /** User address of the memory. */
  user_va: 'u64';
  /** Bytes to map. */
  length: 'u64';
  /** In with FIXED_IOVA, else out: the IOVA of the mapping. */
  iova: 'u64';
};
/** `struct iommu_ioas_map` (40 bytes). */
export const IoasMap = defineStruct<IoasMapFields>('iommu_ioas_map', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  __reserved: [12, 'u32'],
  user_va: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
});
/** Decoded `iommu_ioas_map`. */
export type IoasMap = StructValue<IoasMapFields>;

/** Field table of `iommu_ioas_unmap`. */
export type IoasUnmapFields = {
  /** 24. */
  size: 'u32';
  /** The IOAS. */
  ioas_id: 'u32';
  /** First IOVA (0 with length U64_MAX: everything). */
  iova: 'u64';
  /** Bytes; on return, the bytes unmapped. */
  length: 'u64';
};
/** `struct iommu_ioas_unmap` (24 bytes). */
export const IoasUnmap = defineStruct<IoasUnmapFields>('iommu_ioas_unmap', 24, {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  iova: [8, 'u64'],
  length: [16, 'u64'],
});
/** Decoded `iommu_ioas_unmap`. */
export type IoasUnmap = StructValue<IoasUnmapFields>;

/** Field table of `iommu_hwpt_alloc`. */
export type HwptAllocFields = {
  /** 48 (24 is accepted). */
  size: 'u32';
  /** {@link HwptAllocFlags}. */
  flags: 'u32';
  /** The device (its bound id) the page table is for. */
  dev_id: 'u32';
  /** The IOAS (or parent HWPT) it maps. */
  pt_id: 'u32';
  /** Output: the new HWPT id. */
  out_hwpt_id: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
  /** Driver data type (0: none). */
  data_type: 'u32';
  /** Driver data length (0 with no data). */
  data_len: 'u32';
  /** User address of the driver data. */
  data_uptr: 'u64';
  /** Fault queue id, with FAULT_ID_VALID. */
  fault_id: 'u32';
  /** Must be 0. */
  __reserved2: 'u32';
};
/** `struct iommu_hwpt_alloc` (48 bytes). */
export const HwptAlloc = defineStruct<HwptAllocFields>('iommu_hwpt_alloc', 48, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  pt_id: [12, 'u32'],
  out_hwpt_id: [16, 'u32'],
  __reserved: [20, 'u32'],
  data_type: [24, 'u32'],
  data_len: [28, 'u32'],
  data_uptr: [32, 'u64'],
  fault_id: [40, 'u32'],
  __reserved2: [44, 'u32'],
});
/** Decoded `iommu_hwpt_alloc`. */
export type HwptAlloc = StructValue<HwptAllocFields>;

/** Field table of `iommu_hw_info`. */
export type HwInfoFields = {
  /** 40. */
  size: 'u32';
  /** Must be 0 (6.12). */
  flags: 'u32';
  /** The device's bound id. */
  dev_id: 'u32';
  /** In: room at `data_uptr`; out: the driver data's length. */
  data_len: 'u32';
  /** User address for the driver data. */
  data_uptr: 'u64';
  /** Output: the driver data type. */
  out_data_type: 'u32';
  /** Output: log2 of the PASID width (a u8 at 28), with three reserved bytes after it, read as one u32. */
  out_max_pasid_log2_and_reserved: 'u32';
  /** Output: {@link IommuHwCap} bits. */
  out_capabilities: 'u64';
};
/** `struct iommu_hw_info` (40 bytes). */
export const HwInfo = defineStruct<HwInfoFields>('iommu_hw_info', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  data_len: [12, 'u32'],
  data_uptr: [16, 'u64'],
  out_data_type: [24, 'u32'],
  out_max_pasid_log2_and_reserved: [28, 'u32'],
  out_capabilities: [32, 'u64'],
});
/** Decoded `iommu_hw_info`. */
export type HwInfo = StructValue<HwInfoFields>;

/** Field table of `iommu_hwpt_set_dirty_tracking`. */
export type HwptSetDirtyTrackingFields = {
  /** 16. */
  size: 'u32';
  /** {@link HwptDirtyTrackingFlags}. */
  flags: 'u32';
  /** The HWPT. */
  hwpt_id: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
};
/** `struct iommu_hwpt_set_dirty_tracking` (16 bytes). */
export const HwptSetDirtyTracking = defineStruct<HwptSetDirtyTrackingFields>('iommu_hwpt_set_dirty_tracking', 16, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  hwpt_id: [8, 'u32'],
  __reserved: [12, 'u32'],
});
/** Decoded `iommu_hwpt_set_dirty_tracking`. */
export type HwptSetDirtyTracking = StructValue<HwptSetDirtyTrackingFields>;

/** Field table of `iommu_hwpt_get_dirty_bitmap`. */
export type HwptGetDirtyBitmapFields = {
  /** 48. */
  size: 'u32';
  /** The HWPT. */
  hwpt_id: 'u32';
  /** {@link HwptGetDirtyBitmapFlags}. */
  flags: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
  /** First IOVA. */
  iova: 'u64';
  /** Bytes. */
  length: 'u64';
  /** Bytes one bit covers. */
  page_size: 'u64';
  /** User address of the bitmap (u64 words; bits are only set). */
  data: 'u64';
};
/** `struct iommu_hwpt_get_dirty_bitmap` (48 bytes). */
export const HwptGetDirtyBitmap = defineStruct<HwptGetDirtyBitmapFields>('iommu_hwpt_get_dirty_bitmap', 48, {
  size: [0, 'u32'],
  hwpt_id: [4, 'u32'],
  flags: [8, 'u32'],
  __reserved: [12, 'u32'],
  iova: [16, 'u64'],
  length: [24, 'u64'],
  page_size: [32, 'u64'],
  data: [40, 'u64'],
});
/** Decoded `iommu_hwpt_get_dirty_bitmap`. */
export type HwptGetDirtyBitmap = StructValue<HwptGetDirtyBitmapFields>;

/** Field table of `iommu_test_cmd` for MOCK_DOMAIN and MOCK_DOMAIN_FLAGS. */
export type IommuTestMockDomainFields = {
  /** 72. */
  size: 'u32';
  /** {@link IommuTestOp}: MOCK_DOMAIN or MOCK_DOMAIN_FLAGS. */
  op: 'u32';
  /** The IOAS or HWPT to attach the mock device to. */
  id: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
  /** Output: the selftest object id of the mock device. */
  out_stdev_id: 'u32';
  /** Output: the HWPT it was attached to. */
  out_hwpt_id: 'u32';
  /** Output: its bound device id. */
  out_idev_id: 'u32';
  /** MOCK_DOMAIN_FLAGS: {@link MockDeviceFlags}. */
  dev_flags: 'u32';
  /** The end marker of the struct. */
  last: 'u64';
};
/** `struct iommu_test_cmd` (72 bytes) as MOCK_DOMAIN uses its union. */
export const IommuTestMockDomain = defineStruct<IommuTestMockDomainFields>('iommu_test_cmd', 72, {
  size: [0, 'u32'],
  op: [4, 'u32'],
  id: [8, 'u32'],
  __reserved: [12, 'u32'],
  out_stdev_id: [16, 'u32'],
  out_hwpt_id: [20, 'u32'],
  out_idev_id: [24, 'u32'],
  dev_flags: [28, 'u32'],
  last: [64, 'u64'],
});
/** Decoded MOCK_DOMAIN command. */
export type IommuTestMockDomain = StructValue<IommuTestMockDomainFields>;

/** Field table of `iommu_test_cmd` for DIRTY. */
export type IommuTestDirtyFields = {
  /** 72. */
  size: 'u32';
  /** {@link IommuTestOp}.DIRTY. */
  op: 'u32';
  /** The HWPT. */
  id: 'u32';
  /** Must be 0. */
  __reserved: 'u32';
  /** Flags (0). */
  flags: 'u32';
  /** First IOVA the bitmap covers. */
  iova: 'u64';
  /** Bytes the bitmap covers. */
  length: 'u64';
  /** Bytes per bit (pass the mock IO page size). */
  page_size: 'u64';
  /** User address of the bitmap naming the pages to dirty. */
  uptr: 'u64';
  /** Output: how many pages were marked. */
  out_nr_dirty: 'u64';
  /** The end marker of the struct. */
  last: 'u64';
};
/** `struct iommu_test_cmd` (72 bytes) as DIRTY uses its union. */
export const IommuTestDirty = defineStruct<IommuTestDirtyFields>('iommu_test_cmd', 72, {
  size: [0, 'u32'],
  op: [4, 'u32'],
  id: [8, 'u32'],
  __reserved: [12, 'u32'],
  flags: [16, 'u32'],
  iova: [24, 'u64'],
  length: [32, 'u64'],
  page_size: [40, 'u64'],
  uptr: [48, 'u64'],
  out_nr_dirty: [56, 'u64'],
  last: [64, 'u64'],
});
/** Decoded DIRTY command. */
export type IommuTestDirty = StructValue<IommuTestDirtyFields>;
