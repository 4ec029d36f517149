/**
 * `@savevm/vfio-v1-legacy`: the deprecated VFIO migration protocol v1 (the migration region
 * with its `device_state` bits) as `SaveVMHandlers`, its run-state and migration-status
 * hooks, and its `HandlerProvider`.
 * @packageDocumentation
 */

// The provider and its wiring.
export { VfioV1Provider, type VfioV1ProviderOptions } from './provider.js';
export { vfioV1ContainerModule } from './container-module.js';

// One device's migration (its handlers and hooks), and the migration region they drive.
export { VfioV1DeviceMigration, type VfioV1DeviceOptions } from './device-migration.js';
export { V1DeviceSaver } from './save/device-saver.js';
export { V1DeviceLoader } from './load/device-loader.js';
export { V1MigrationRegion } from './migration-region.js';

// Errors.
export { VfioV1Error, type V1Phase, type V1ErrorCode, type VfioV1ErrorInit } from './errors.js';
