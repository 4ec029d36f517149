/**
 * The `SaveVMHandlers` of one v1 device: the save hooks call the {@link V1DeviceSaver}, the
 * load hooks the {@link V1DeviceLoader} (docs/design/vfio-uapi.md §7.4–§7.6). v1 has no
 * config state, no switchover-ack and no multifd hooks.
 */
import type { SaveVMHandlers } from '@savevm/core';
import type { V1DeviceLoader } from './load/device-loader.js';
import type { V1DeviceSaver } from './save/device-saver.js';

/** Builds the handler table of one device. */
export function createVfioV1Handlers(saver: V1DeviceSaver, loader: V1DeviceLoader): SaveVMHandlers {
  return {
    saveSetup: (f) => saver.setup(f),
    statePendingEstimate: () => saver.pending(),
    statePendingExact: () => saver.pending(),
    saveLiveIterate: (f) => saver.iterate(f),
    saveLiveCompletePrecopy: (f) => saver.completePrecopy(f),
    saveCleanup: () => saver.cleanup(),
    loadSetup: () => loader.setup(),
    loadState: (f, versionId) => loader.loadState(f, versionId),
    loadCleanup: (_entry, outcome) => loader.cleanup(outcome),
  };
}
