/**
 * `@savevm/vfio-v2`: VFIO migration protocol v2 as `SaveVMHandlers` (QEMU 8.0's
 * implementation plus what QEMU added since: pre-copy, P2P, switchover-ack, a config-state
 * hook), its run-state handler and migration-status hook, and its handler provider.
 * @packageDocumentation
 */

// The provider and its wiring.
export { VfioV2Provider, describeMigrationFlags, type VfioV2OptionsFor } from './provider.js';
export { vfioV2ContainerModule } from './container-module.js';

// One device's migration and its options.
export { VfioV2DeviceMigration } from './device-migration.js';
export { DeviceMigrationState } from './migration-state.js';
export { DeviceSaver, type DeviceSaverOptions, type DeviceSaveStats } from './save/device-saver.js';
export { DeviceLoader, type DeviceLoaderOptions } from './load/device-loader.js';
export {
  DEFAULT_MAX_QUEUED_BUFFERS_SIZE,
  type VfioV2Options,
  type VfioConfigStateHook,
  type StopCopyExit,
} from './options.js';
export type { MultifdTransfer } from './multifd/multifd-transfer.js';
export {
  OpaqueConfigState,
  OpaqueConfigStateError,
  type OpaqueConfigStateOptions,
  type OpaqueConfigStateErrorReason,
} from './opaque-config-state.js';

// QEMU's VFIO_MIGRATION event.
export {
  VFIO_MIGRATION_EVENT,
  isVfioMigrationEvent,
  type VfioMigrationEvent,
  type VfioMigrationStateName,
} from './migration-events.js';

// Device state on multifd channels.
export { VfioMultifdError, type VfioMultifdErrorInit, type VfioMultifdRefusal } from './multifd/multifd-error.js';
export { StateBufferQueue, type QueuedStateBuffer, type StateBufferQueueOptions } from './multifd/state-buffer-queue.js';
export { MultifdDeviceLoader, type MultifdDeviceLoaderOptions } from './multifd/multifd-device-loader.js';

// Errors.
export {
  VfioStateTransitionError,
  VfioV2MigrationError,
  type TransitionOutcome,
  type TransitionFailure,
  type VfioV2ErrorInit,
} from './errors.js';

// Tracing.
export { VfioTracePoint, type VfioTracePointName, type VfioTracePayloads } from './tracing.js';

// Guest RAM a device writes by DMA.
export { VfioDmaDirtyTracking, type VfioDmaDeviceHandle } from './dirty/vfio-dma-dirty-tracking.js';
export type { TrackedDevice } from './dirty/tracked-device.js';
export { Type1DmaBackend, IommufdDmaBackend, type VfioDmaBackend, type IommufdAttachment } from './dirty/dma-backends.js';
export type { VfioDmaDeviceOptions, VfioDmaDirtyTrackingOptions } from './dirty/dma-tracking-options.js';
export { VfioDmaTrackingError, type VfioDmaTrackingErrorInit } from './dirty/dma-tracking-error.js';
