/**
 * Byte-exact codecs for the VFIO uAPI structs (spec §B.1, §B.2, §C.2). Offsets and sizes are
 * the x86_64/arm64 layouts; u64 fields decode as bigint.
 */
import { defineStruct, viewOf, type StructValue } from './codec.js';

/** `struct vfio_group_status` (8 bytes). */
export const GroupStatus = defineStruct<{ argsz: 'u32'; flags: 'u32' }>('vfio_group_status', 8, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
});
/** Decoded `vfio_group_status`. */
export type GroupStatus = StructValue<{ argsz: 'u32'; flags: 'u32' }>;

/** Field table (name → kind) of the struct the codec below describes. */
export type DeviceInfoFields = {
  argsz: 'u32';
  flags: 'u32';
  num_regions: 'u32';
  num_irqs: 'u32';
  cap_offset: 'u32';
  pad: 'u32';
};
/** `struct vfio_device_info` (24 bytes). */
export const DeviceInfo = defineStruct<DeviceInfoFields>('vfio_device_info', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  num_regions: [8, 'u32'],
  num_irqs: [12, 'u32'],
  cap_offset: [16, 'u32'],
  pad: [20, 'u32'],
});
/** Decoded `vfio_device_info`. */
export type DeviceInfo = StructValue<DeviceInfoFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type RegionInfoFields = {
  argsz: 'u32';
  flags: 'u32';
  index: 'u32';
  cap_offset: 'u32';
  size: 'u64';
  offset: 'u64';
};
/** `struct vfio_region_info` (32 bytes; capabilities follow when argsz allows). */
export const RegionInfo = defineStruct<RegionInfoFields>('vfio_region_info', 32, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  index: [8, 'u32'],
  cap_offset: [12, 'u32'],
  size: [16, 'u64'],
  offset: [24, 'u64'],
});
/** Decoded `vfio_region_info`. */
export type RegionInfo = StructValue<RegionInfoFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type CapHeaderFields = { id: 'u16'; version: 'u16'; next: 'u32' };
/** `struct vfio_info_cap_header` (8 bytes). */
export const InfoCapHeader = defineStruct<CapHeaderFields>('vfio_info_cap_header', 8, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
});
/** Decoded `vfio_info_cap_header`. */
export type InfoCapHeader = StructValue<CapHeaderFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type CapTypeFields = CapHeaderFields & { type: 'u32'; subtype: 'u32' };
/** `struct vfio_region_info_cap_type` (16 bytes, cap id 2). */
export const RegionInfoCapType = defineStruct<CapTypeFields>('vfio_region_info_cap_type', 16, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
  type: [8, 'u32'],
  subtype: [12, 'u32'],
});
/** Decoded `vfio_region_info_cap_type`. */
export type RegionInfoCapType = StructValue<CapTypeFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type SparseHeadFields = CapHeaderFields & { nr_areas: 'u32'; reserved: 'u32' };
/** Fixed head of `struct vfio_region_info_cap_sparse_mmap` (16 bytes; areas follow). */
export const RegionInfoCapSparseMmapHead = defineStruct<SparseHeadFields>(
  'vfio_region_info_cap_sparse_mmap',
  16,
  {
    id: [0, 'u16'],
    version: [2, 'u16'],
    next: [4, 'u32'],
    nr_areas: [8, 'u32'],
    reserved: [12, 'u32'],
  },
);
/** Decoded head of the sparse-mmap capability. */
export type RegionInfoCapSparseMmapHead = StructValue<SparseHeadFields>;

/** `struct vfio_region_sparse_mmap_area` (16 bytes). */
export const SparseMmapArea = defineStruct<{ offset: 'u64'; size: 'u64' }>(
  'vfio_region_sparse_mmap_area',
  16,
  { offset: [0, 'u64'], size: [8, 'u64'] },
);
/** Decoded sparse-mmap area. */
export type SparseMmapArea = StructValue<{ offset: 'u64'; size: 'u64' }>;

/** `struct vfio_device_feature` header (8 bytes; the payload follows at offset 8). */
export const DeviceFeatureHeader = defineStruct<{ argsz: 'u32'; flags: 'u32' }>('vfio_device_feature', 8, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
});
/** Decoded `vfio_device_feature` header. */
export type DeviceFeatureHeader = StructValue<{ argsz: 'u32'; flags: 'u32' }>;

/** `struct vfio_device_feature_migration` (8 bytes). */
export const FeatureMigration = defineStruct<{ flags: 'u64' }>('vfio_device_feature_migration', 8, {
  flags: [0, 'u64'],
});
/** Decoded `vfio_device_feature_migration`. */
export type FeatureMigration = StructValue<{ flags: 'u64' }>;

/** `struct vfio_device_feature_mig_state` (8 bytes). */
export const FeatureMigState = defineStruct<{ device_state: 'u32'; data_fd: 's32' }>(
  'vfio_device_feature_mig_state',
  8,
  { device_state: [0, 'u32'], data_fd: [4, 's32'] },
);
/** Decoded `vfio_device_feature_mig_state`. */
export type FeatureMigState = StructValue<{ device_state: 'u32'; data_fd: 's32' }>;

/** `struct vfio_device_feature_mig_data_size` (8 bytes). */
export const FeatureMigDataSize = defineStruct<{ stop_copy_length: 'u64' }>(
  'vfio_device_feature_mig_data_size',
  8,
  { stop_copy_length: [0, 'u64'] },
);
/** Decoded `vfio_device_feature_mig_data_size`. */
export type FeatureMigDataSize = StructValue<{ stop_copy_length: 'u64' }>;

/** Field table (name → kind) of the struct the codec below describes. */
export type PrecopyFields = { argsz: 'u32'; flags: 'u32'; initial_bytes: 'u64'; dirty_bytes: 'u64' };
/** `struct vfio_precopy_info` (24 bytes). */
export const PrecopyInfo = defineStruct<PrecopyFields>('vfio_precopy_info', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  initial_bytes: [8, 'u64'],
  dirty_bytes: [16, 'u64'],
});
/** Decoded `vfio_precopy_info`. */
export type PrecopyInfo = StructValue<PrecopyFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type DmaLogCtlFields = { page_size: 'u64'; num_ranges: 'u32'; __reserved: 'u32'; ranges: 'u64' };
/** `struct vfio_device_feature_dma_logging_control` (24 bytes; `ranges` is a user pointer). */
export const DmaLoggingControl = defineStruct<DmaLogCtlFields>('vfio_device_feature_dma_logging_control', 24, {
  page_size: [0, 'u64'],
  num_ranges: [8, 'u32'],
  __reserved: [12, 'u32'],
  ranges: [16, 'u64'],
});
/** Decoded `vfio_device_feature_dma_logging_control`. */
export type DmaLoggingControl = StructValue<DmaLogCtlFields>;

/** `struct vfio_device_feature_dma_logging_range` (16 bytes). */
export const DmaLoggingRange = defineStruct<{ iova: 'u64'; length: 'u64' }>(
  'vfio_device_feature_dma_logging_range',
  16,
  { iova: [0, 'u64'], length: [8, 'u64'] },
);
/** Decoded `vfio_device_feature_dma_logging_range`. */
export type DmaLoggingRange = StructValue<{ iova: 'u64'; length: 'u64' }>;

/** Field table (name → kind) of the struct the codec below describes. */
export type DmaReportFields = { iova: 'u64'; length: 'u64'; page_size: 'u64'; bitmap: 'u64' };
/** `struct vfio_device_feature_dma_logging_report` (32 bytes; `bitmap` is a user pointer). */
export const DmaLoggingReport = defineStruct<DmaReportFields>('vfio_device_feature_dma_logging_report', 32, {
  iova: [0, 'u64'],
  length: [8, 'u64'],
  page_size: [16, 'u64'],
  bitmap: [24, 'u64'],
});
/** Decoded `vfio_device_feature_dma_logging_report`. */
export type DmaLoggingReport = StructValue<DmaReportFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type BindFields = { argsz: 'u32'; flags: 'u32'; iommufd: 's32'; out_devid: 'u32'; token_uuid_ptr: 'u64' };
/** `struct vfio_device_bind_iommufd` (24 bytes with the newer `token_uuid_ptr`; 16 without). */
export const DeviceBindIommufd = defineStruct<BindFields>('vfio_device_bind_iommufd', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iommufd: [8, 's32'],
  out_devid: [12, 'u32'],
  token_uuid_ptr: [16, 'u64'],
});
/** Decoded `vfio_device_bind_iommufd`. */
export type DeviceBindIommufd = StructValue<BindFields>;
/** argsz of the original 16-byte BIND_IOMMUFD struct (what Linux 6.12 expects). */
export const BIND_IOMMUFD_ARGSZ_V1 = 16;

/** Field table (name → kind) of the struct the codec below describes. */
export type AttachFields = { argsz: 'u32'; flags: 'u32'; pt_id: 'u32'; pasid: 'u32' };
/** `struct vfio_device_attach_iommufd_pt` (16 bytes). */
export const DeviceAttachIommufdPt = defineStruct<AttachFields>('vfio_device_attach_iommufd_pt', 16, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  pt_id: [8, 'u32'],
  pasid: [12, 'u32'],
});
/** Decoded `vfio_device_attach_iommufd_pt`. */
export type DeviceAttachIommufdPt = StructValue<AttachFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type V1InfoFields = {
  device_state: 'u32';
  reserved: 'u32';
  pending_bytes: 'u64';
  data_offset: 'u64';
  data_size: 'u64';
};
/** `struct vfio_device_migration_info` (v1, 32 bytes at offset 0 of the migration region). */
export const DeviceMigrationInfoV1 = defineStruct<V1InfoFields>('vfio_device_migration_info', 32, {
  device_state: [0, 'u32'],
  reserved: [4, 'u32'],
  pending_bytes: [8, 'u64'],
  data_offset: [16, 'u64'],
  data_size: [24, 'u64'],
});
/** Decoded `vfio_device_migration_info`. */
export type DeviceMigrationInfoV1 = StructValue<V1InfoFields>;

/** Byte offsets of the v1 `vfio_device_migration_info` fields (for region pread/pwrite). */
export const V1InfoOffset = { device_state: 0, reserved: 4, pending_bytes: 8, data_offset: 16, data_size: 24 } as const;

/**
 * Builds a `vfio_device_feature` buffer: the 8-byte header (argsz = 8 + payload length) and
 * the payload bytes at offset 8.
 */
export function encodeDeviceFeature(flags: number, payload: Uint8Array | number = 0): Uint8Array {
  const payloadBytes = typeof payload === 'number' ? new Uint8Array(payload) : payload;
  const out = new Uint8Array(DeviceFeatureHeader.size + payloadBytes.byteLength);
  DeviceFeatureHeader.encode({ argsz: out.byteLength, flags }, out);
  out.set(payloadBytes, DeviceFeatureHeader.size);
  return out;
}

/** The payload part (offset 8 onwards) of a `vfio_device_feature` buffer, as a view. */
export function deviceFeaturePayload(buffer: Uint8Array): Uint8Array {
  return buffer.subarray(DeviceFeatureHeader.size);
}

/** Reads a little-endian u32 at `at` (helper for raw region fields). */
export function readU32(bytes: Uint8Array, at = 0): number {
  return viewOf(bytes).getUint32(at, true);
}

/** Reads a little-endian u64 at `at` as a bigint. */
export function readU64(bytes: Uint8Array, at = 0): bigint {
  return viewOf(bytes).getBigUint64(at, true);
}
