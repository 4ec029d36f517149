/** What a VMM chooses about DMA dirty tracking: per device, and for one address space. */
import type { MigrationBlockers } from '@savevm/core';

/** Per-device options, after QEMU's vfio-pci properties. */
export interface VfioDmaDeviceOptions {
  /**
   * QEMU's `enable-migration`: `auto` (default) installs a migration blocker naming the
   * device when it has no DMA dirty tracking (no device DMA logging and no IOMMU tracking
   * through iommufd); `on` migrates it anyway — every mapped page then counts as dirty at
   * every sync unless the IOMMU mechanism in use reports for it.
   */
  readonly enableMigration?: 'auto' | 'on';
  /** QEMU's `x-device-dirty-page-tracking` (default true): whether the device's own DMA logging may be used. */
  readonly deviceDirtyTracking?: boolean;
  /**
   * QEMU's `x-pre-copy-dirty-page-tracking` (default true): whether DMA dirty bits are read
   * while the device runs. Off, syncs skip DMA tracking until no device is in a running state
   * (RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P): the bits wait in the kernel until the
   * switchover.
   */
  readonly preCopyDirtyTracking?: boolean;
  /** How the device's migration state is learnt for that gate (default: GET MIG_DEVICE_STATE). */
  readonly state?: () => number;
}

/** What {@link VfioDmaDirtyTracking} is built with. */
export interface VfioDmaDirtyTrackingOptions {
  /** Where a device without DMA dirty tracking gets its blocker (the session's `blockers`). */
  readonly blockers: MigrationBlockers;
  /** The host page size bitmaps use (default 4096). */
  readonly hostPageSize?: number;
  /** The source's name in errors and the RAM tracker (default `vfio-dma:<backend>`). */
  readonly name?: string;
}
