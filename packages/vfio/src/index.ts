/**
 * @savevm/vfio: Linux VFIO device access through the kernel ABI (koffi). The emulated kernel
 * device behind the same interfaces is the `@savevm/vfio/emulated` entry point.
 */
export {
  VFIO_TYPE,
  VFIO_BASE,
  vfioIoctl,
  VfioIoctl,
  vfioIoctlName,
  VFIO_API_VERSION,
  VfioIommuType,
  VfioGroupFlags,
  VfioDeviceFlags,
  VfioRegionFlags,
  VfioRegionCapId,
  VFIO_PCI_NUM_REGIONS,
  VFIO_PCI_CONFIG_REGION_INDEX,
  vfioPciRegionOffset,
  VfioBindFlags,
  VfioFeatureFlags,
  VfioFeature,
  VfioMigrationFlags,
  VFIO_PRECOPY_INFO_REINIT,
  MigState,
  MIG_STATE_COUNT,
  migStateName,
  isMigState,
  VfioV1Region,
  V1State,
  isValidV1State,
  isV1ErrorState,
  OpenFlags,
} from './uapi/constants.js';
export { defineStruct, viewOf } from './uapi/codec.js';
export type { FieldKind, FieldValue, FieldSpec, StructValue, StructCodec } from './uapi/codec.js';
export {
  GroupStatus,
  DeviceInfo,
  RegionInfo,
  InfoCapHeader,
  RegionInfoCapType,
  RegionInfoCapSparseMmapHead,
  SparseMmapArea,
  DeviceFeatureHeader,
  FeatureMigration,
  FeatureMigState,
  FeatureMigDataSize,
  PrecopyInfo,
  DmaLoggingControl,
  DmaLoggingRange,
  DmaLoggingReport,
  DeviceBindIommufd,
  BIND_IOMMUFD_ARGSZ_V1,
  DeviceAttachIommufdPt,
  DeviceMigrationInfoV1,
  V1InfoOffset,
  encodeDeviceFeature,
  deviceFeaturePayload,
  readU32,
  readU64,
} from './uapi/structs.js';
export type {
  DeviceInfoFields,
  RegionInfoFields,
  CapHeaderFields,
  CapTypeFields,
  SparseHeadFields,
  PrecopyFields,
  DmaLogCtlFields,
  DmaReportFields,
  BindFields,
  AttachFields,
  V1InfoFields,
} from './uapi/structs.js';
export {
  parseCapabilityChain,
  encodeCapabilityChain,
  encodedCapabilitySize,
  CapabilityChainError,
} from './uapi/capabilities.js';
export type { RegionCapability, SparseArea } from './uapi/capabilities.js';
export {
  NEXT_STEP,
  STATE_REQUIRED_FLAGS,
  isStateSupported,
  nextMigrationStep,
  migrationPath,
  arcOpensDataFile,
  isSavingState,
  isPreCopyState,
  isRunningState,
} from './uapi/fsm.js';
export type { NextStep } from './uapi/fsm.js';
export { Errno, errnoName, errnoOfNodeError, VfioError, VfioSyscallError, isErrno } from './errors.js';
export type { ErrorContext } from './errors.js';
export { checked, SpliceFlags, FIONREAD, MmapProt, MAP_SHARED } from './syscalls/syscalls.js';
export type { Syscalls, MemoryMapping } from './syscalls/syscalls.js';
export {
  LibcSyscalls,
  allocateAlignedBuffer,
  allocateHugePageMemory,
  bufferAddress,
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
export { FdMappedRegionArea, RegionMapRefusedError } from './device/region-mapping.js';
export type { MappedRegionArea, RegionMapRefusal, RegionMappingOwner } from './device/region-mapping.js';
export { FdVfioDevice, MAX_REGION_INFO_SIZE, dmaLoggingOf } from './device/device.js';
export { FdDataFile } from './device/data-file.js';
export type { DataFileOwner } from './device/data-file.js';
export { FdDataSpliceSink, FdDataSpliceSource, READY_YIELDS, hasSplice } from './device/data-splice.js';
export type { SpliceSourceOwner, SpliceSyscalls } from './device/data-splice.js';
export { locateVfioDevice } from './kernel/sysfs.js';
export type { VfioDeviceLocation, VfioDeviceSpec } from './kernel/sysfs.js';
export { VfioContainer, IommufdContext, openVfioDevice } from './kernel/open.js';
export type { OpenOptions, OpenVfioDeviceOptions } from './kernel/open.js';
export {
  VfioIommuIoctl,
  Type1InfoFlags,
  Type1CapId,
  DmaMapFlags,
  DmaUnmapFlags,
  DirtyPagesFlags,
  DIRTY_BITMAP_PAGES_MAX,
  DIRTY_BITMAP_SIZE_MAX,
  DMA_ENTRY_LIMIT_DEFAULT,
  dirtyBitmapBytes,
} from './uapi/type1.js';
export {
  Type1Info,
  TYPE1_INFO_MIN_ARGSZ,
  Type1CapMigration,
  Type1CapDmaAvail,
  Type1CapIovaRangeHead,
  IovaRange,
  Type1DmaMap,
  VfioBitmap,
  Type1DmaUnmap,
  Type1DirtyBitmap,
  Type1DirtyBitmapGet,
} from './uapi/type1-structs.js';
export type {
  Type1InfoFields,
  Type1CapMigrationFields,
  Type1CapDmaAvailFields,
  Type1CapIovaRangeFields,
  IovaRangeFields,
  Type1DmaMapFields,
  VfioBitmapFields,
  Type1DmaUnmapFields,
  Type1DirtyBitmapFields,
  Type1DirtyBitmapGetFields,
} from './uapi/type1-structs.js';
export { parseType1Info, encodeType1InfoCaps } from './uapi/type1-info.js';
export type { Type1IommuInfo, Type1MigrationCap, Type1IovaRange, Type1InfoCaps } from './uapi/type1-info.js';
export {
  IOMMUFD_TYPE,
  IOMMUFD_CMD_BASE,
  iommufdIoctl,
  IommufdIoctl,
  iommufdIoctlName,
  IommufdMinSize,
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
export { userAddress } from './syscalls/user-address.js';
export { Type1Iommu, MAX_TYPE1_INFO_SIZE } from './kernel/type1-iommu.js';
export type { Type1DirtyTracking } from './kernel/type1-iommu.js';
export { IommufdIommu } from './kernel/iommufd-iommu.js';
export type { IommuHwInfo, IommufdDirtyTracking } from './kernel/iommufd-iommu.js';
export { DeviceDmaLogging, DMA_LOGGING_MAX_RANGES } from './device/dma-logging.js';
export type { DmaLoggingRangeSpec } from './device/dma-logging.js';
export { VfioTag } from './wire/vfio-tags.js';
export { vfioIdstr, isVfioIdstr } from './wire/vfio-idstr.js';
export {
  VfioMultiDeviceRule,
  MULTI_DEVICE_BLOCKER_OWNER,
  MULTI_DEVICE_BLOCKER_REASON,
  type MultiDeviceBlockerSink,
  type MultiDeviceMember,
  type MultiDeviceRegistration,
} from './migration/multi-device-rule.js';
