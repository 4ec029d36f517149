/**
 * Numeric constants of the Linux VFIO uAPI (include/uapi/linux/vfio.h) used by this package.
 * Values are facts of the kernel ABI; see spec/handlers-and-vfio.md §B.1–B.2 and §C.
 */

/** ioctl type byte of every VFIO ioctl (`';'`). */
export const VFIO_TYPE = 0x3b;
/** First VFIO ioctl number offset. */
export const VFIO_BASE = 100;

/** Builds a VFIO ioctl request number (`_IO(VFIO_TYPE, VFIO_BASE + k)`; no size or direction bits). */
export function vfioIoctl(k: number): number {
  return (VFIO_TYPE << 8) | (VFIO_BASE + k);
}

/** VFIO ioctl request numbers, by name. The same number is reused across fd kinds. */
export const VfioIoctl = {
  GET_API_VERSION: vfioIoctl(0),
  CHECK_EXTENSION: vfioIoctl(1),
  SET_IOMMU: vfioIoctl(2),
  GROUP_GET_STATUS: vfioIoctl(3),
  GROUP_SET_CONTAINER: vfioIoctl(4),
  GROUP_UNSET_CONTAINER: vfioIoctl(5),
  GROUP_GET_DEVICE_FD: vfioIoctl(6),
  DEVICE_GET_INFO: vfioIoctl(7),
  DEVICE_GET_REGION_INFO: vfioIoctl(8),
  DEVICE_GET_IRQ_INFO: vfioIoctl(9),
  DEVICE_SET_IRQS: vfioIoctl(10),
  DEVICE_RESET: vfioIoctl(11),
  DEVICE_FEATURE: vfioIoctl(17),
  DEVICE_BIND_IOMMUFD: vfioIoctl(18),
  DEVICE_ATTACH_IOMMUFD_PT: vfioIoctl(19),
  DEVICE_DETACH_IOMMUFD_PT: vfioIoctl(20),
  MIG_GET_PRECOPY_INFO: vfioIoctl(21),
} as const;

/** Name of a VFIO ioctl request number (first match; numbers are shared between fd kinds). */
export function vfioIoctlName(request: number): string {
  for (const [name, value] of Object.entries(VfioIoctl)) {
    if (value === request) return `VFIO_${name}`;
  }
  return `ioctl 0x${request.toString(16)}`;
}

/** `VFIO_API_VERSION`, answered by GET_API_VERSION on the container. */
export const VFIO_API_VERSION = 0;
/** IOMMU extension / type ids for CHECK_EXTENSION and SET_IOMMU. */
export const VfioIommuType = { TYPE1: 1, TYPE1v2: 3 } as const;

/** `vfio_group_status.flags` bits. */
export const VfioGroupFlags = { VIABLE: 1 << 0, CONTAINER_SET: 1 << 1 } as const;

/** `vfio_device_info.flags` bits. */
export const VfioDeviceFlags = {
  RESET: 1 << 0,
  PCI: 1 << 1,
  PLATFORM: 1 << 2,
  AMBA: 1 << 3,
  CCW: 1 << 4,
  AP: 1 << 5,
  FSL_MC: 1 << 6,
  CAPS: 1 << 7,
  CDX: 1 << 8,
} as const;

/** `vfio_region_info.flags` bits. */
export const VfioRegionFlags = { READ: 1 << 0, WRITE: 1 << 1, MMAP: 1 << 2, CAPS: 1 << 3 } as const;

/** Region-info capability ids (`vfio_info_cap_header.id`). */
export const VfioRegionCapId = { SPARSE_MMAP: 1, TYPE: 2 } as const;

/** Number of fixed vfio-pci regions; device-specific regions start at this index. */
export const VFIO_PCI_NUM_REGIONS = 9;
/** vfio-pci config-space region index. */
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
/** vfio-pci places region `index` at this byte offset of the device fd (`index << 40`). */
export function vfioPciRegionOffset(index: number): number {
  return index * 2 ** 40;
}

/** `vfio_device_bind_iommufd.flags` bits. */
export const VfioBindFlags = { TOKEN: 1 << 0 } as const;

/** `vfio_device_feature.flags`: feature index mask and operation bits. */
export const VfioFeatureFlags = {
  MASK: 0xffff,
  GET: 1 << 16,
  SET: 1 << 17,
  PROBE: 1 << 18,
} as const;

/** Feature ids (`vfio_device_feature.flags & MASK`). */
export const VfioFeature = {
  PCI_VF_TOKEN: 0,
  MIGRATION: 1,
  MIG_DEVICE_STATE: 2,
  LOW_POWER_ENTRY: 3,
  LOW_POWER_ENTRY_WITH_WAKEUP: 4,
  LOW_POWER_EXIT: 5,
  DMA_LOGGING_START: 6,
  DMA_LOGGING_STOP: 7,
  DMA_LOGGING_REPORT: 8,
  MIG_DATA_SIZE: 9,
  BUS_MASTER: 10,
  DMA_BUF: 11,
  MIG_PRECOPY_INFOv2: 12,
} as const;

/** Migration capability flags (payload of feature MIGRATION). */
export const VfioMigrationFlags = { STOP_COPY: 1 << 0, P2P: 1 << 1, PRE_COPY: 1 << 2 } as const;

/** `vfio_precopy_info.flags` output bit (with MIG_PRECOPY_INFOv2). */
export const VFIO_PRECOPY_INFO_REINIT = 1 << 0;

/** v2 migration device states (`enum vfio_device_mig_state`). */
export const MigState = {
  ERROR: 0,
  STOP: 1,
  RUNNING: 2,
  STOP_COPY: 3,
  RESUMING: 4,
  RUNNING_P2P: 5,
  PRE_COPY: 6,
  PRE_COPY_P2P: 7,
} as const;
/** A v2 migration device state value. */
export type MigState = (typeof MigState)[keyof typeof MigState];
/** Number of v2 states (`VFIO_DEVICE_STATE_NR`). */
export const MIG_STATE_COUNT = 8;

/** Name of a v2 state value (or `STATE(n)` for out-of-range values). */
export function migStateName(state: number): string {
  for (const [name, value] of Object.entries(MigState)) if (value === state) return name;
  return `STATE(${state})`;
}

/** Whether a number is a defined v2 state. */
export function isMigState(value: number): value is MigState {
  return Number.isInteger(value) && value >= 0 && value < MIG_STATE_COUNT;
}

/** v1 (deprecated) migration region type and subtype (`VFIO_REGION_TYPE_MIGRATION_DEPRECATED`). */
export const VfioV1Region = { TYPE: 3, SUBTYPE: 1 } as const;

/** v1 `device_state` bits. */
export const V1State = {
  STOP: 0,
  RUNNING: 1 << 0,
  SAVING: 1 << 1,
  RESUMING: 1 << 2,
  MASK: 7,
  /** SAVING|RESUMING: the error value. */
  ERROR: (1 << 1) | (1 << 2),
} as const;

/** v1 `VALID(s)`: with RESUMING set, the low bits must be exactly RESUMING. */
export function isValidV1State(state: number): boolean {
  return (state & V1State.RESUMING) === 0 || (state & V1State.MASK) === V1State.RESUMING;
}

/** v1 `IS_ERROR(s)`. */
export function isV1ErrorState(state: number): boolean {
  return (state & V1State.MASK) === V1State.ERROR;
}

/** Linux open(2) flags used here. */
export const OpenFlags = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CLOEXEC: 0o2000000 } as const;
