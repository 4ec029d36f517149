/**
 * Numeric constants of the Linux VFIO uAPI (include/uapi/linux/vfio.h) used by this package.
 * Values are facts of the kernel ABI; see docs/design/vfio-uapi.md §1–§3 and §7.
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
  /** `VFIO_GET_API_VERSION` (container fd): returns the API version, 0. */
  GET_API_VERSION: vfioIoctl(0),
  /** `VFIO_CHECK_EXTENSION` (container fd): whether an IOMMU type / extension id is supported. */
  CHECK_EXTENSION: vfioIoctl(1),
  /** `VFIO_SET_IOMMU` (container fd): selects the IOMMU backend once a group is attached. */
  SET_IOMMU: vfioIoctl(2),
  /** `VFIO_GROUP_GET_STATUS` (group fd): reads the group flags (VIABLE, CONTAINER_SET). */
  GROUP_GET_STATUS: vfioIoctl(3),
  /** `VFIO_GROUP_SET_CONTAINER` (group fd): attaches the group to a container fd. */
  GROUP_SET_CONTAINER: vfioIoctl(4),
  /** `VFIO_GROUP_UNSET_CONTAINER` (group fd): detaches the group from its container. */
  GROUP_UNSET_CONTAINER: vfioIoctl(5),
  /** `VFIO_GROUP_GET_DEVICE_FD` (group fd): opens a device by name (e.g. `0000:bb:dd.f`) and returns its fd. */
  GROUP_GET_DEVICE_FD: vfioIoctl(6),
  /** `VFIO_DEVICE_GET_INFO` (device fd): flags and the numbers of regions and IRQs. */
  DEVICE_GET_INFO: vfioIoctl(7),
  /** `VFIO_DEVICE_GET_REGION_INFO` (device fd): size, offset, flags and capabilities of one region. */
  DEVICE_GET_REGION_INFO: vfioIoctl(8),
  /** `VFIO_DEVICE_GET_IRQ_INFO` (device fd): describes one IRQ index. */
  DEVICE_GET_IRQ_INFO: vfioIoctl(9),
  /** `VFIO_DEVICE_SET_IRQS` (device fd): wires or triggers interrupts. */
  DEVICE_SET_IRQS: vfioIoctl(10),
  /** `VFIO_DEVICE_RESET` (device fd, no argument): resets the device; the only way out of the ERROR migration state. */
  DEVICE_RESET: vfioIoctl(11),
  /** `VFIO_DEVICE_FEATURE` (device fd): GET, SET or PROBE a feature; carries the whole v2 migration protocol. */
  DEVICE_FEATURE: vfioIoctl(17),
  /** `VFIO_DEVICE_BIND_IOMMUFD` (cdev device fd): binds the device to an iommufd. */
  DEVICE_BIND_IOMMUFD: vfioIoctl(18),
  /** `VFIO_DEVICE_ATTACH_IOMMUFD_PT` (cdev device fd): attaches the device to an IOMMU page table. */
  DEVICE_ATTACH_IOMMUFD_PT: vfioIoctl(19),
  /** `VFIO_DEVICE_DETACH_IOMMUFD_PT` (cdev device fd): detaches it again. */
  DEVICE_DETACH_IOMMUFD_PT: vfioIoctl(20),
  /** `VFIO_MIG_GET_PRECOPY_INFO` (issued on the data_fd, in PRE_COPY or PRE_COPY_P2P): estimates of the initial and dirty bytes still to read. */
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
export const VfioIommuType = {
  /** `VFIO_TYPE1_IOMMU` (1): the original type1 IOMMU backend. */
  TYPE1: 1,
  /** `VFIO_TYPE1v2_IOMMU` (3): type1 with v2 unmap semantics; the backend this package asks for. */
  TYPE1v2: 3,
} as const;

/** `vfio_group_status.flags` bits. */
export const VfioGroupFlags = {
  /** Every device in the group is bound to a VFIO driver, so the group may be used. */
  VIABLE: 1 << 0,
  /** The group is already attached to a container. */
  CONTAINER_SET: 1 << 1,
} as const;

/** `vfio_device_info.flags` bits. */
export const VfioDeviceFlags = {
  /** The device supports `VFIO_DEVICE_RESET`. */
  RESET: 1 << 0,
  /** A vfio-pci device. */
  PCI: 1 << 1,
  /** A vfio-platform device. */
  PLATFORM: 1 << 2,
  /** A vfio-amba (ARM AMBA bus) device. */
  AMBA: 1 << 3,
  /** A vfio-ccw (s390 channel I/O) device. */
  CCW: 1 << 4,
  /** A vfio-ap (s390 crypto adjunct processor) device. */
  AP: 1 << 5,
  /** A vfio-fsl-mc (NXP Management Complex bus) device. */
  FSL_MC: 1 << 6,
  /** The info struct carries a capability chain at `cap_offset`. */
  CAPS: 1 << 7,
  /** A vfio-cdx (AMD CDX bus) device. */
  CDX: 1 << 8,
} as const;

/** `vfio_region_info.flags` bits. */
export const VfioRegionFlags = {
  /** The region can be read with pread on the device fd. */
  READ: 1 << 0,
  /** The region can be written with pwrite on the device fd. */
  WRITE: 1 << 1,
  /** The region (or parts of it, see the sparse-mmap capability) can be mmapped. */
  MMAP: 1 << 2,
  /** A capability chain follows the info struct, starting at `cap_offset`. */
  CAPS: 1 << 3,
} as const;

/** Region-info capability ids (`vfio_info_cap_header.id`). */
export const VfioRegionCapId = {
  /** `VFIO_REGION_INFO_CAP_SPARSE_MMAP` (1): lists the mmappable areas of the region. */
  SPARSE_MMAP: 1,
  /** `VFIO_REGION_INFO_CAP_TYPE` (2): the region's type and subtype (how the v1 migration region is found). */
  TYPE: 2,
} as const;

/** Number of fixed vfio-pci regions; device-specific regions start at this index. */
export const VFIO_PCI_NUM_REGIONS = 9;
/** vfio-pci config-space region index. */
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
/** vfio-pci places region `index` at this byte offset of the device fd (`index << 40`). */
export function vfioPciRegionOffset(index: number): number {
  return index * 2 ** 40;
}

/** `vfio_device_bind_iommufd.flags` bits. */
export const VfioBindFlags = {
  /** `token_uuid_ptr` is valid: a VF token UUID is passed with the bind. */
  TOKEN: 1 << 0,
} as const;

/** `vfio_device_feature.flags`: feature index mask and operation bits. */
export const VfioFeatureFlags = {
  /** Low 16 bits: the feature id (see {@link VfioFeature}). */
  MASK: 0xffff,
  /** Read the feature's data from the device. */
  GET: 1 << 16,
  /** Write the feature's data to the device. */
  SET: 1 << 17,
  /** Only ask whether the feature (and the GET/SET given with it) is supported; no data moves. */
  PROBE: 1 << 18,
} as const;

/** Feature ids (`vfio_device_feature.flags & MASK`). */
export const VfioFeature = {
  /** PCI_VF_TOKEN (0, SET): hands the PF driver the VF token UUID (16 bytes). */
  PCI_VF_TOKEN: 0,
  /** MIGRATION (1, GET): the device's migration capability flags ({@link VfioMigrationFlags}). */
  MIGRATION: 1,
  /** MIG_DEVICE_STATE (2, GET/SET): reads or changes the v2 FSM state; a SET that starts a session returns a data_fd. */
  MIG_DEVICE_STATE: 2,
  /** LOW_POWER_ENTRY (3): puts the device into runtime low power. */
  LOW_POWER_ENTRY: 3,
  /** LOW_POWER_ENTRY_WITH_WAKEUP (4): low power, with an eventfd signalled on wakeup. */
  LOW_POWER_ENTRY_WITH_WAKEUP: 4,
  /** LOW_POWER_EXIT (5): leaves runtime low power. */
  LOW_POWER_EXIT: 5,
  /** DMA_LOGGING_START (6, SET/PROBE): starts device-side DMA dirty tracking over IOVA ranges. */
  DMA_LOGGING_START: 6,
  /** DMA_LOGGING_STOP (7, SET): stops device-side dirty tracking. */
  DMA_LOGGING_STOP: 7,
  /** DMA_LOGGING_REPORT (8, GET): fills a dirty bitmap for a range; reading clears the device's log. */
  DMA_LOGGING_REPORT: 8,
  /** MIG_DATA_SIZE (9, GET): estimated size of the STOP_COPY data (`stop_copy_length`); valid in any state. */
  MIG_DATA_SIZE: 9,
  /** BUS_MASTER (10): bus-master enable control, CDX devices only. */
  BUS_MASTER: 10,
  /** DMA_BUF (11): exports a region range as a dma-buf fd. */
  DMA_BUF: 11,
  /** MIG_PRECOPY_INFOv2 (12, SET with no data): opts in to `VFIO_PRECOPY_INFO_REINIT` reporting in `vfio_precopy_info.flags`. */
  MIG_PRECOPY_INFOv2: 12,
} as const;

/** Migration capability flags (payload of feature MIGRATION). */
export const VfioMigrationFlags = {
  /** Required of every migratable device: STOP, STOP_COPY and RESUMING are supported. */
  STOP_COPY: 1 << 0,
  /** The RUNNING_P2P (and, with PRE_COPY, PRE_COPY_P2P) quiescing states are supported. */
  P2P: 1 << 1,
  /** PRE_COPY is supported: state can be read while the device still runs. */
  PRE_COPY: 1 << 2,
} as const;

/** `vfio_precopy_info.flags` output bit (with MIG_PRECOPY_INFOv2). */
export const VFIO_PRECOPY_INFO_REINIT = 1 << 0;

/** v2 migration device states (`enum vfio_device_mig_state`). */
export const MigState = {
  /** ERROR (0): a failed arc left the device unusable; it cannot be requested, only `VFIO_DEVICE_RESET` leaves it. */
  ERROR: 0,
  /** STOP (1): the device does no DMA, raises no interrupts and does not change its state, but still answers config space. */
  STOP: 1,
  /** RUNNING (2): the device operates normally; no migration session is open. */
  RUNNING: 2,
  /** STOP_COPY (3): the device is stopped and its complete state is being read out of the data_fd. */
  STOP_COPY: 3,
  /** RESUMING (4): the device is stopped and takes a saved state written into the data_fd; leaving it validates the state. */
  RESUMING: 4,
  /** RUNNING_P2P (5): the device runs but starts no new peer-to-peer DMA, so all devices can be quiesced before STOP. */
  RUNNING_P2P: 5,
  /** PRE_COPY (6): the device runs while an initial copy of its state is read from the data_fd. */
  PRE_COPY: 6,
  /** PRE_COPY_P2P (7): as PRE_COPY, with new peer-to-peer DMA blocked as in RUNNING_P2P. */
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
export const VfioV1Region = {
  /** `VFIO_REGION_TYPE_MIGRATION_DEPRECATED` (3). */
  TYPE: 3,
  /** `VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED` (1). */
  SUBTYPE: 1,
} as const;

/** v1 `device_state` bits. */
export const V1State = {
  /** 0: the device is stopped and not saving or resuming. */
  STOP: 0,
  /** `_RUNNING` (bit 0): the device runs; the default. With SAVING: pre-copy. */
  RUNNING: 1 << 0,
  /** `_SAVING` (bit 1): state is being saved; alone it is stop-and-copy. */
  SAVING: 1 << 1,
  /** `_RESUMING` (bit 2): a saved state is being written in; must be the only bit set. */
  RESUMING: 1 << 2,
  /** The three defined bits; the rest of `device_state` is reserved and kept by read-modify-write. */
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
export const OpenFlags = {
  /** Open for reading only. */
  O_RDONLY: 0,
  /** Open for writing only. */
  O_WRONLY: 1,
  /** Open for reading and writing. */
  O_RDWR: 2,
  /** Close the fd on exec (0o2000000 on x86_64 and arm64). */
  O_CLOEXEC: 0o2000000,
} as const;
