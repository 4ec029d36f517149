/**
 * @savevm/vfio: Linux VFIO device access through the kernel ABI (koffi). The emulated kernel
 * device behind the same interfaces is the `@savevm/vfio/emulated` entry point.
 */
export {
  VfioIoctl,
  VfioDeviceFlags,
  VfioRegionFlags,
  VfioFeatureFlags,
  VfioFeature,
  VfioMigrationFlags,
  MigState,
  migStateName,
  VfioV1Region,
  V1State,
  isValidV1State,
  isV1ErrorState,
} from './uapi/constants.js';
export type { FieldKind, FieldValue, FieldSpec, StructValue, StructCodec } from './uapi/codec.js';
export {
  PrecopyInfo,
  DmaLoggingControl,
  DmaLoggingRange,
  DmaLoggingReport,
  DeviceMigrationInfoV1,
  V1InfoOffset,
  encodeDeviceFeature,
} from './uapi/structs.js';
export type { PrecopyFields, DmaLogCtlFields, DmaReportFields, V1InfoFields } from './uapi/structs.js';
export { CapabilityChainError } from './uapi/capabilities.js';
export type { RegionCapability, SparseArea } from './uapi/capabilities.js';
export { nextMigrationStep, isPreCopyState, isRunningState } from './uapi/fsm.js';
export type { NextStep } from './uapi/fsm.js';
export { Errno, errnoName, VfioError, VfioSyscallError, isErrno } from './errors.js';
export type { ErrorContext } from './errors.js';
export type { Syscalls, MemoryMapping } from './syscalls/syscalls.js';
export {
  LibcSyscalls,
  allocateAlignedBuffer,
  allocateHugePageMemory,
  retainFreedHeapMemory,
  PAGE_SIZE,
  type HugePageMemory,
  type RetainFreedHeapMemoryOptions,
} from './syscalls/libc.js';
export type {
  VfioDevice,
  VfioDataFile,
  DataSpliceSource,
  DataSpliceSink,
  DataReadResult,
  SetStateResult,
  VfioDeviceInfo,
  VfioRegionInfo,
  VfioPrecopyInfo,
  RegionArea,
} from './device/types.js';
export { isVfioDevice, NOT_A_VFIO_DEVICE } from './device/is-vfio-device.js';
export { RegionMapRefusedError } from './device/region-mapping.js';
export type { MappedRegionArea, RegionMapRefusal } from './device/region-mapping.js';
export { FdVfioDevice, dmaLoggingOf } from './device/device.js';
export { FdDataFile } from './device/data-file.js';
export type { DataFileOwner } from './device/data-file.js';
export { locateVfioDevice } from './kernel/sysfs.js';
export type { VfioDeviceLocation, VfioDeviceSpec } from './kernel/sysfs.js';
export { VfioContainer, IommufdContext, openVfioDevice } from './kernel/open.js';
export type { OpenOptions, OpenVfioDeviceOptions } from './kernel/open.js';
export {
  VfioIommuIoctl,
  Type1InfoFlags,
  DmaMapFlags,
  DmaUnmapFlags,
  DirtyPagesFlags,
  DIRTY_BITMAP_SIZE_MAX,
  dirtyBitmapBytes,
} from './uapi/type1.js';
export {
  Type1Info,
  Type1DmaMap,
  VfioBitmap,
  Type1DmaUnmap,
  Type1DirtyBitmap,
  Type1DirtyBitmapGet,
} from './uapi/type1-structs.js';
export type {
  Type1InfoFields,
  Type1DmaMapFields,
  VfioBitmapFields,
  Type1DmaUnmapFields,
  Type1DirtyBitmapFields,
  Type1DirtyBitmapGetFields,
} from './uapi/type1-structs.js';
export { parseType1Info } from './uapi/type1-info.js';
export type { Type1IommuInfo, Type1MigrationCap, Type1IovaRange } from './uapi/type1-info.js';
export {
  IommufdIoctl,
  IoasMapFlags,
  HwptAllocFlags,
  IommuHwCap,
  HwptDirtyTrackingFlags,
  HwptGetDirtyBitmapFlags,
  IommuTestOp,
  MockDeviceFlags,
  MOCK_APERTURE_START,
} from './uapi/iommufd.js';
export {
  IommuDestroy,
  IoasAlloc,
  IoasMap,
  IoasUnmap,
  HwptAlloc,
  HwInfo,
  HwptSetDirtyTracking,
  HwptGetDirtyBitmap,
  IommuTestMockDomain,
  IommuTestDirty,
} from './uapi/iommufd-structs.js';
export type {
  IommuDestroyFields,
  IoasAllocFields,
  IoasMapFields,
  IoasUnmapFields,
  HwptAllocFields,
  HwInfoFields,
  HwptSetDirtyTrackingFields,
  HwptGetDirtyBitmapFields,
  IommuTestMockDomainFields,
  IommuTestDirtyFields,
} from './uapi/iommufd-structs.js';
export { DirtyTrackingUnsupported, DMA_DIRTY_MECHANISM_NAMES } from './dirty/refusal.js';
export type { DmaDirtyMechanism, DirtyTrackingProbe } from './dirty/refusal.js';
export { Type1Iommu } from './kernel/type1-iommu.js';
export type { Type1DirtyTracking } from './kernel/type1-iommu.js';
export { IommufdIommu } from './kernel/iommufd-iommu.js';
export type { IommuHwInfo, IommufdDirtyTracking } from './kernel/iommufd-iommu.js';
export { DeviceDmaLogging } from './device/dma-logging.js';
export type { DmaLoggingRangeSpec } from './device/dma-logging.js';
export { VfioTag } from './wire/vfio-tags.js';
export { vfioIdstr, isVfioIdstr } from './wire/vfio-idstr.js';
export {
  VfioMultiDeviceRule,
  MULTI_DEVICE_BLOCKER_REASON,
  type MultiDeviceBlockerSink,
  type MultiDeviceMember,
  type MultiDeviceRegistration,
} from './migration/multi-device-rule.js';
