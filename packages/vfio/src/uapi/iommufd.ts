/**
 * Numeric constants of the iommufd uAPI (`/dev/iommu`, include/uapi/linux/iommufd.h as of
 * Linux 6.12): ioctl numbers, each command's minimum `size`, and the flag bits of the
 * commands used for DMA mapping and dirty tracking (docs/design/vfio-dirty-tracking.md §2).
 */

/** ioctl type byte of iommufd (the same as VFIO's, `';'`). */
export const IOMMUFD_TYPE = 0x3b;
/** First iommufd command number. */
export const IOMMUFD_CMD_BASE = 0x80;

/** Builds an iommufd ioctl number (`_IO(IOMMUFD_TYPE, nr)`). */
export function iommufdIoctl(nr: number): number {
  return (IOMMUFD_TYPE << 8) | nr;
}

/** iommufd ioctl request numbers (6.12 numbering). */
export const IommufdIoctl = {
  /** `IOMMU_DESTROY` (0x3b80): destroys an object by id. */
  DESTROY: iommufdIoctl(0x80),
  /** `IOMMU_IOAS_ALLOC` (0x3b81): a new I/O address space. */
  IOAS_ALLOC: iommufdIoctl(0x81),
  /** `IOMMU_IOAS_MAP` (0x3b85): maps user memory into an IOAS. */
  IOAS_MAP: iommufdIoctl(0x85),
  /** `IOMMU_IOAS_UNMAP` (0x3b86): unmaps an IOVA range of an IOAS. */
  IOAS_UNMAP: iommufdIoctl(0x86),
  /** `IOMMU_HWPT_ALLOC` (0x3b89): a hardware page table for a device over an IOAS. */
  HWPT_ALLOC: iommufdIoctl(0x89),
  /** `IOMMU_GET_HW_INFO` (0x3b8a): what the device's IOMMU can do (`out_capabilities`). */
  GET_HW_INFO: iommufdIoctl(0x8a),
  /** `IOMMU_HWPT_SET_DIRTY_TRACKING` (0x3b8b): turns dirty tracking of a HWPT on or off. */
  HWPT_SET_DIRTY_TRACKING: iommufdIoctl(0x8b),
  /** `IOMMU_HWPT_GET_DIRTY_BITMAP` (0x3b8c): reads (and clears) a HWPT's dirty bits for a range. */
  HWPT_GET_DIRTY_BITMAP: iommufdIoctl(0x8c),
  /** `IOMMU_TEST_CMD` (0x3ba0): the selftest mock, only with CONFIG_IOMMUFD_TEST. */
  TEST_CMD: iommufdIoctl(0xa0),
} as const;

/** Name of an iommufd ioctl number, or undefined. */
export function iommufdIoctlName(request: number): string | undefined {
  for (const [name, value] of Object.entries(IommufdIoctl)) if (value === request) return `IOMMU_${name}`;
  return undefined;
}

/**
 * The smallest `size` each command accepts (the end of its last mandatory field); a smaller
 * `size` is EINVAL. A larger one is accepted when the bytes past the kernel's struct are zero
 * (else E2BIG).
 */
export const IommufdMinSize: Readonly<Record<number, number>> = {
  [IommufdIoctl.DESTROY]: 8,
  [IommufdIoctl.IOAS_ALLOC]: 12,
  [IommufdIoctl.IOAS_MAP]: 40,
  [IommufdIoctl.IOAS_UNMAP]: 24,
  [IommufdIoctl.HWPT_ALLOC]: 24,
  [IommufdIoctl.GET_HW_INFO]: 32,
  [IommufdIoctl.HWPT_SET_DIRTY_TRACKING]: 16,
  [IommufdIoctl.HWPT_GET_DIRTY_BITMAP]: 48,
  [IommufdIoctl.TEST_CMD]: 72,
};

/** `iommu_ioas_map.flags`. */
export const IoasMapFlags = {
  /** Map at the given `iova` (else the kernel picks one and returns it). */
  FIXED_IOVA: 1 << 0,
  /** DMA may write the mapping. */
  WRITEABLE: 1 << 1,
  /** DMA may read the mapping. */
  READABLE: 1 << 2,
} as const;

/** `iommu_hwpt_alloc.flags`. */
export const HwptAllocFlags = {
  /** The HWPT may parent nested page tables. */
  NEST_PARENT: 1 << 0,
  /** The HWPT supports (and enforces) dirty tracking: a device that cannot track is refused. */
  DIRTY_TRACKING: 1 << 1,
  /** `fault_id` is valid. */
  FAULT_ID_VALID: 1 << 2,
} as const;

/** `iommu_hw_info.out_capabilities` bits. */
export const IommuHwCap = {
  /** The device's IOMMU can track DMA dirty pages. */
  DIRTY_TRACKING: 1 << 0,
  /** PCI PASID execute permission. */
  PCI_PASID_EXEC: 1 << 1,
  /** PCI PASID privileged mode. */
  PCI_PASID_PRIV: 1 << 2,
} as const;

/** `iommu_hwpt_set_dirty_tracking.flags`. */
export const HwptDirtyTrackingFlags = {
  /** Enable (clears every dirty bit first); clear to disable. */
  ENABLE: 1 << 0,
} as const;

/** `iommu_hwpt_get_dirty_bitmap.flags`. */
export const HwptGetDirtyBitmapFlags = {
  /** Read the dirty bits without clearing them (for "read, then unmap"). */
  NO_CLEAR: 1 << 0,
} as const;

/** `IOMMU_TEST_CMD` ops used by the selftest's dirty-tracking fixture (CONFIG_IOMMUFD_TEST). */
export const IommuTestOp = {
  /** Creates, binds and attaches a mock device to the IOAS or HWPT `id`. */
  MOCK_DOMAIN: 2,
  /** The same, with device flags (`dev_flags` at 28). */
  MOCK_DOMAIN_FLAGS: 12,
  /** Marks the mock PTEs named by a user bitmap dirty; returns how many. */
  DIRTY: 13,
} as const;

/** Mock device flags of MOCK_DOMAIN_FLAGS. */
export const MockDeviceFlags = {
  /** The mock device's IOMMU cannot track dirty pages. */
  NO_DIRTY: 1 << 0,
  /** Huge IOVA pages. */
  HUGE_IOVA: 1 << 1,
} as const;

/** The mock domain's aperture start (1 << 24). */
export const MOCK_APERTURE_START = 1 << 24;
