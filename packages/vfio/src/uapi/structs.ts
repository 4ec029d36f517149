/**
 * Byte-exact codecs for the VFIO uAPI structs (docs/design/vfio-uapi.md §1, §2, §7.2).
 * Offsets and sizes are the x86_64/arm64 layouts; u64 fields decode as bigint.
 */
import { defineStruct, viewOf, type StructValue } from './codec.js';

/** `struct vfio_group_status` (8 bytes). */
export const GroupStatus = defineStruct<{
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Group status bits ({@link VfioGroupFlags}): VIABLE, CONTAINER_SET. */
  flags: 'u32';
}>('vfio_group_status', 8, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
});
/** Decoded `vfio_group_status`. */
export type GroupStatus = StructValue<{
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Group status bits ({@link VfioGroupFlags}): VIABLE, CONTAINER_SET. */
  flags: 'u32';
}>;

/** Field table (name → kind) of the struct the codec below describes. */
export type DeviceInfoFields = {
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Device kind and ability bits ({@link VfioDeviceFlags}). */
  flags: 'u32';
  /** Number of regions (region indexes 0 .. num_regions-1). */
  num_regions: 'u32';
  /** Number of IRQ indexes. */
  num_irqs: 'u32';
  /** Offset of the first capability in the info buffer, 0 if none. */
  cap_offset: 'u32';
  /** Padding; zero. */
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
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Access bits ({@link VfioRegionFlags}). */
  flags: 'u32';
  /** Region index being asked about (in). */
  index: 'u32';
  /** Offset of the first capability in the info buffer, 0 if none. */
  cap_offset: 'u32';
  /** Region size, bytes. */
  size: 'u64';
  /** Where the region starts in the device fd (for pread/pwrite/mmap). */
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
export type CapHeaderFields = {
  /** Capability id ({@link VfioRegionCapId}). */
  id: 'u16';
  /** Version of that capability's layout. */
  version: 'u16';
  /** Offset of the next capability from the start of the info buffer; 0 ends the chain. */
  next: 'u32';
};
/** `struct vfio_info_cap_header` (8 bytes). */
export const InfoCapHeader = defineStruct<CapHeaderFields>('vfio_info_cap_header', 8, {
  id: [0, 'u16'],
  version: [2, 'u16'],
  next: [4, 'u32'],
});
/** Decoded `vfio_info_cap_header`. */
export type InfoCapHeader = StructValue<CapHeaderFields>;

/** Field table (name → kind) of the struct the codec below describes. */
export type CapTypeFields = CapHeaderFields & {
  /** Region type (3 for the v1 migration region). */
  type: 'u32';
  /** Region subtype within that type (1 for the v1 migration region). */
  subtype: 'u32';
};
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
export type SparseHeadFields = CapHeaderFields & {
  /** Number of `{offset, size}` areas that follow the head. */
  nr_areas: 'u32';
  /** Padding; zero. */
  reserved: 'u32';
};
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
export const SparseMmapArea = defineStruct<{
  /** Offset of the mmappable area inside the region, bytes. */
  offset: 'u64';
  /** Size of the area, bytes. */
  size: 'u64';
}>(
  'vfio_region_sparse_mmap_area',
  16,
  { offset: [0, 'u64'], size: [8, 'u64'] },
);
/** Decoded sparse-mmap area. */
export type SparseMmapArea = StructValue<{
  /** Offset of the mmappable area inside the region, bytes. */
  offset: 'u64';
  /** Size of the area, bytes. */
  size: 'u64';
}>;

/** `struct vfio_device_feature` header (8 bytes; the payload follows at offset 8). */
export const DeviceFeatureHeader = defineStruct<{
  /** Size of the header plus payload, bytes. */
  argsz: 'u32';
  /** Feature id in the low 16 bits plus GET / SET / PROBE ({@link VfioFeatureFlags}). */
  flags: 'u32';
}>('vfio_device_feature', 8, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
});
/** Decoded `vfio_device_feature` header. */
export type DeviceFeatureHeader = StructValue<{
  /** Size of the header plus payload, bytes. */
  argsz: 'u32';
  /** Feature id in the low 16 bits plus GET / SET / PROBE ({@link VfioFeatureFlags}). */
  flags: 'u32';
}>;

/** `struct vfio_device_feature_migration` (8 bytes). */
export const FeatureMigration = defineStruct<{
  /** Migration capabilities of the device ({@link VfioMigrationFlags}): STOP_COPY, P2P, PRE_COPY. */
  flags: 'u64';
}>('vfio_device_feature_migration', 8, {
  flags: [0, 'u64'],
});
/** Decoded `vfio_device_feature_migration`. */
export type FeatureMigration = StructValue<{
  /** Migration capabilities of the device ({@link VfioMigrationFlags}): STOP_COPY, P2P, PRE_COPY. */
  flags: 'u64';
}>;

/** `struct vfio_device_feature_mig_state` (8 bytes). */
export const FeatureMigState = defineStruct<{
  /** The FSM state: the target on SET, the current state on GET ({@link MigState}). */
  device_state: 'u32';
  /** The new data_fd when the arc opened a session, else -1; owned (and closed) by the caller. */
  data_fd: 's32';
}>(
  'vfio_device_feature_mig_state',
  8,
  { device_state: [0, 'u32'], data_fd: [4, 's32'] },
);
/** Decoded `vfio_device_feature_mig_state`. */
export type FeatureMigState = StructValue<{
  /** The FSM state: the target on SET, the current state on GET ({@link MigState}). */
  device_state: 'u32';
  /** The new data_fd when the arc opened a session, else -1; owned (and closed) by the caller. */
  data_fd: 's32';
}>;

/** `struct vfio_device_feature_mig_data_size` (8 bytes). */
export const FeatureMigDataSize = defineStruct<{
  /** Estimated bytes the STOP_COPY state will produce, including unread pre-copy data. */
  stop_copy_length: 'u64';
}>(
  'vfio_device_feature_mig_data_size',
  8,
  { stop_copy_length: [0, 'u64'] },
);
/** Decoded `vfio_device_feature_mig_data_size`. */
export type FeatureMigDataSize = StructValue<{
  /** Estimated bytes the STOP_COPY state will produce, including unread pre-copy data. */
  stop_copy_length: 'u64';
}>;

/** Field table (name → kind) of the struct the codec below describes. */
export type PrecopyFields = {
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Output flags; `VFIO_PRECOPY_INFO_REINIT` once MIG_PRECOPY_INFOv2 is enabled. */
  flags: 'u32';
  /** Estimated initial pre-copy bytes still unread; goes down as data is read. */
  initial_bytes: 'u64';
  /** Estimated bytes dirtied since the initial data; rises and falls. */
  dirty_bytes: 'u64';
};
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
export type DmaLogCtlFields = {
  /** Requested tracking granularity; the device writes back the one it chose. */
  page_size: 'u64';
  /** Number of entries in the `ranges` array. */
  num_ranges: 'u32';
  /** Padding; zero. */
  __reserved: 'u32';
  /** User pointer to an array of {@link DmaLoggingRange}. */
  ranges: 'u64';
};
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
export const DmaLoggingRange = defineStruct<{
  /** Start IOVA of the range to track. */
  iova: 'u64';
  /** Length of the range, bytes. */
  length: 'u64';
}>(
  'vfio_device_feature_dma_logging_range',
  16,
  { iova: [0, 'u64'], length: [8, 'u64'] },
);
/** Decoded `vfio_device_feature_dma_logging_range`. */
export type DmaLoggingRange = StructValue<{
  /** Start IOVA of the range to track. */
  iova: 'u64';
  /** Length of the range, bytes. */
  length: 'u64';
}>;

/** Field table (name → kind) of the struct the codec below describes. */
export type DmaReportFields = {
  /** Start IOVA of the range to report. */
  iova: 'u64';
  /** Length of the range, bytes. */
  length: 'u64';
  /** Bytes covered by one bit of the bitmap. */
  page_size: 'u64';
  /** User pointer to the bitmap the kernel sets bits in (never clears). */
  bitmap: 'u64';
};
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
export type BindFields = {
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). 16 or 24. */
  argsz: 'u32';
  /** Bind flags ({@link VfioBindFlags}). */
  flags: 'u32';
  /** The iommufd to bind the device to. */
  iommufd: 's32';
  /** Output: the device id iommufd assigned. */
  out_devid: 'u32';
  /** User pointer to the VF token UUID when TOKEN is set (newer kernels only). */
  token_uuid_ptr: 'u64';
};
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
export type AttachFields = {
  /** Size of the whole argument in bytes, set by the caller (the kernel may ask for more). */
  argsz: 'u32';
  /** Attach flags (PASID = 1: `pasid` is valid). */
  flags: 'u32';
  /** In: the IOAS or HWPT to attach to; out: the HWPT actually used. */
  pt_id: 'u32';
  /** PASID to attach when the PASID flag is set. */
  pasid: 'u32';
};
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
  /** v1 state bits ({@link V1State}): RUNNING, SAVING, RESUMING; upper bits reserved. */
  device_state: 'u32';
  /** Reads as 0; writes are ignored. */
  reserved: 'u32';
  /** Read only: bytes the device still has to send while saving; reading it starts an iteration. */
  pending_bytes: 'u64';
  /** Read only: where in the region the staged data starts; reading it asks the driver to stage data. */
  data_offset: 'u64';
  /** Bytes staged at data_offset (read when saving; written by the user when resuming). */
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
export const V1InfoOffset = {
  /** `device_state` (u32) at 0. */
  device_state: 0,
  /** `reserved` (u32) at 4. */
  reserved: 4,
  /** `pending_bytes` (u64) at 8. */
  pending_bytes: 8,
  /** `data_offset` (u64) at 16. */
  data_offset: 16,
  /** `data_size` (u64) at 24. */
  data_size: 24,
} as const;

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
