/**
 * `@savevm/vfio-v2`: VFIO migration protocol v2 as `SaveVMHandlers` (QEMU 8.0's
 * implementation plus what QEMU added since: pre-copy, P2P, switchover-ack, a config-state
 * hook), its run-state handler and migration-status hook, and its handler provider.
 * @packageDocumentation
 */
export { VfioV2Provider, VFIO_V2_PROVIDER_PRIORITY, describeMigrationFlags, type VfioV2OptionsFor } from './provider.js';
export { vfioV2ContainerModule } from './container-module.js';
export { VfioV2DeviceMigration, VFIO_SECTION_VERSION } from './device-migration.js';
export {
  DEFAULT_DATA_BUFFER_SIZE,
  DEFAULT_MAX_QUEUED_BUFFERS_SIZE,
  STOP_COPY_SIZE_UNKNOWN,
  type VfioV2Options,
  type VfioConfigStateHook,
  type StopCopyExit,
} from './options.js';
export {
  OpaqueConfigState,
  OpaqueConfigStateError,
  type OpaqueConfigStateOptions,
  type OpaqueConfigStateErrorReason,
} from './opaque-config-state.js';
export { DeviceMigrationState } from './migration-state.js';
export {
  VFIO_MIGRATION_EVENT,
  vfioMigrationStateName,
  vfioMigrationEvent,
  isVfioMigrationEvent,
  type VfioMigrationEvent,
  type VfioMigrationStateName,
} from './migration-events.js';
export { DeviceSaver, type DeviceSaverOptions, type DeviceSaveStats } from './save/device-saver.js';
export { saveBlock, type BlockResult } from './save/save-block.js';
export { DeviceLoader, type DeviceLoaderOptions } from './load/device-loader.js';
export { createVfioV2Handlers } from './handlers.js';
export {
  VFIO_DEVICE_STATE_PACKET_VERSION,
  VFIO_DEVICE_STATE_CONFIG_STATE,
  VFIO_DEVICE_STATE_HEADER_SIZE,
  VFIO_DEVICE_STATE_INVALID_INDEX,
  encodeVfioDeviceStatePacket,
  readVfioDeviceStateHeader,
  type VfioDeviceStateHeader,
} from './multifd/device-state-packet.js';
export { VfioMultifdError, type VfioMultifdErrorInit, type VfioMultifdRefusal } from './multifd/multifd-error.js';
export { StateBufferQueue, type QueuedStateBuffer, type StateBufferQueueOptions } from './multifd/state-buffer-queue.js';
export { MultifdDeviceLoader, type MultifdDeviceLoaderOptions } from './multifd/multifd-device-loader.js';
export { sendStopCopyState, type StopCopySendOptions, type StopCopySendResult } from './multifd/stop-copy-sender.js';
export { usesMultifdTransfer, type MultifdTransfer } from './multifd/multifd-transfer.js';
export { createRunStateHandler } from './run-state-handler.js';
export { createMigrationStatusHook } from './migration-status-hook.js';
export {
  VfioStateTransitionError,
  VfioV2MigrationError,
  type TransitionOutcome,
  type TransitionFailure,
  type VfioV2ErrorInit,
} from './errors.js';
export { VfioTracePoint, traceVfio, isVfioTracing, type VfioTracePointName, type VfioTracePayloads } from './tracing.js';
export {
  VfioDmaDirtyTracking,
  NO_DMA_DIRTY_TRACKING,
  type VfioDmaDeviceHandle,
} from './dirty/vfio-dma-dirty-tracking.js';
export { Type1DmaBackend, IommufdDmaBackend, type VfioDmaBackend, type IommufdAttachment } from './dirty/dma-backends.js';
export type { VfioDmaDeviceOptions, VfioDmaDirtyTrackingOptions } from './dirty/dma-tracking-options.js';
export { VfioDmaTrackingError, type VfioDmaTrackingErrorInit } from './dirty/dma-tracking-error.js';
export { DeviceLoggingMechanism, Type1Mechanism, IommufdHwptMechanism, NoMechanism, type DirtyMechanism } from './dirty/dirty-mechanisms.js';
export { loggingRanges, insideRanges, type IovaSpan } from './dirty/dma-log-ranges.js';
export type { TrackedDevice } from './dirty/tracked-device.js';
