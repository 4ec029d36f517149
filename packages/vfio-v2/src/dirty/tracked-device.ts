/** What the DMA dirty-tracking policy knows about one device (docs/design/vfio-dirty-tracking.md §6). */
import type { Disposable } from '@savevm/core';
import type { DeviceDmaLogging, DirtyTrackingUnsupported, VfioDevice } from '@savevm/vfio';

/** A device in a {@link VfioDmaDirtyTracking} address space. */
export interface TrackedDevice {
  /** The device. */
  readonly device: VfioDevice;
  /** Its name. */
  readonly name: string;
  /** Its DMA logging, when the driver has it and the VMM allows it. */
  readonly logging: DeviceDmaLogging | undefined;
  /** Why there is no DMA logging, when there is none. */
  readonly loggingRefusal: DirtyTrackingUnsupported | string | undefined;
  /** The HWPT with dirty tracking it is attached to (iommufd), if any. */
  readonly dirtyHwpt: number | undefined;
  /** Why it has no HWPT with dirty tracking (iommufd), when it has none. */
  readonly iommuRefusal: DirtyTrackingUnsupported | undefined;
  /** Migrated without DMA dirty tracking because the VMM forced it (`enableMigration: 'on'`). */
  readonly forced: boolean;
  /** Whether DMA dirty bits are read while it runs. */
  readonly preCopyDirtyTracking: boolean;
  /** Its migration state now. */
  readonly state: () => number;
  /** The blocker installed for it, if any. */
  readonly blocker: Disposable | undefined;
}
