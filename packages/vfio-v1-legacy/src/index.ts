/**
 * `@savevm/vfio-v1-legacy`: the deprecated VFIO migration protocol v1 (the migration region
 * with its `device_state` bits) as `SaveVMHandlers`, its run-state and migration-status
 * hooks, and its `HandlerProvider`.
 * @packageDocumentation
 */

// The provider and its wiring.
export {
  VfioV1Provider,
  VFIO_V1_PROVIDER_PRIORITY,
  type VfioV1ProviderOptions,
} from './provider.js';
export { vfioV1ContainerModule } from './container-module.js';

// The handlers and hooks.
export { VfioV1Handlers, VFIO_V1_VERSION_ID, type VfioV1HandlerOptions } from './handlers.js';
export { VfioV1LifecycleHooks } from './lifecycle-hooks.js';

// The region, its discovery and its state.
export {
  lookUpMigrationRegion,
  requireMigrationRegion,
  NO_MIGRATION_REGION,
  ZERO_SIZED_MIGRATION_REGION,
  type MigrationRegionLookup,
  type MigrationRegionFound,
  type MigrationRegionAbsent,
} from './discovery.js';
export { V1MigrationRegion } from './migration-region.js';
export { V1Transition, applyV1Change, describeV1State, type V1StateChange, type V1Transitions } from './device-state.js';
export { changeV1State, changeV1StateOrReset } from './set-state.js';
export { V1ChunkSender, MAX_SAVE_PIECE_BYTES } from './save/chunk-sender.js';
export { receiveChunk } from './load/receive-chunk.js';
export { V1DataSectionMappings, type V1DataPathChoice } from './data-section-mapping.js';

// Tracing.
export { VfioV1TracePoint, traceVfioV1, type VfioV1TracePointName, type VfioV1TracePayloads } from './tracing.js';

// Errors.
export { VfioV1Error, type V1Phase, type V1ErrorCode, type VfioV1ErrorInit } from './errors.js';
