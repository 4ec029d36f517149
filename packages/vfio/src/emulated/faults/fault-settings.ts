/** Fault-injection settings of the emulated device: which arc, data transfer or ioctl fails, and how. */

/**
 * Make the arc `from → to` fail with `errno`. States are v2 `MigState` values in v2 mode and
 * v1 `device_state` low bits in v1 mode. `leaveIn` is where the failed arc leaves the device
 * (default: `from`; e.g. ERROR, or `to` for an arc that half happened). `times` limits how
 * often it fires (default: every time).
 */
export interface ArcFault {
  /** State before the arc. */
  readonly from: number;
  /** State the arc goes to. */
  readonly to: number;
  /** errno the SET (or v1 device_state write) fails with. */
  readonly errno: number;
  /** Where the device is left; default `from`. */
  readonly leaveIn?: number;
  /** How many times to fire; default unlimited. */
  readonly times?: number;
}

/** Make data reads (or writes) fail with `errno` once `afterBytes` bytes have gone through. */
export interface DataFault {
  /** Bytes that still succeed (a read or write crossing the limit is cut short at it). */
  readonly afterBytes: number;
  /** errno returned from then on (sticky until cleared). */
  readonly errno: number;
}

/** The dirty-tracking and DMA ioctls fault injection can name (what `EmulatedVfioKernel.failIoctl` matches). */
export type DmaIoctlOp =
  | 'VFIO_IOMMU_GET_INFO'
  | 'VFIO_IOMMU_MAP_DMA'
  | 'VFIO_IOMMU_UNMAP_DMA'
  | 'VFIO_IOMMU_DIRTY_PAGES START'
  | 'VFIO_IOMMU_DIRTY_PAGES STOP'
  | 'VFIO_IOMMU_DIRTY_PAGES GET_BITMAP'
  | 'DMA_LOGGING_PROBE'
  | 'DMA_LOGGING_START'
  | 'DMA_LOGGING_STOP'
  | 'DMA_LOGGING_REPORT'
  | 'IOMMU_DESTROY'
  | 'IOMMU_IOAS_ALLOC'
  | 'IOMMU_IOAS_MAP'
  | 'IOMMU_IOAS_UNMAP'
  | 'IOMMU_HWPT_ALLOC'
  | 'IOMMU_GET_HW_INFO'
  | 'IOMMU_HWPT_SET_DIRTY_TRACKING'
  | 'IOMMU_HWPT_GET_DIRTY_BITMAP'
  | 'VFIO_DEVICE_ATTACH_IOMMUFD_PT';

/**
 * Make an ioctl fail with `errno` before the kernel looks at it (nothing changes). `device`
 * limits it to one device's fd (device ioctls only); `after` lets the first matching calls
 * through; `times` limits how often it fires (default: every time).
 */
export interface IoctlFault {
  /** The ioctl (and sub-command). */
  readonly op: DmaIoctlOp;
  /** The errno it fails with. */
  readonly errno: number;
  /** Only for this device's fd. */
  readonly device?: string;
  /** How many times to fire; default unlimited. */
  readonly times?: number;
  /** How many matching calls pass first (default 0). */
  readonly after?: number;
}
