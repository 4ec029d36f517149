/**
 * `@savevm/core`: QEMU's SaveVMHandlers contract, the save-state registry, the migration
 * driver (source and destination), VM run state with ordered change handlers, migration
 * status and progress as rxjs observables, trace points, and the inversify wiring that
 * picks a handler provider by probing.
 * @packageDocumentation
 */
import 'reflect-metadata';

// The contract a device implements.
export type {
  MaybePromise,
  PendingBytes,
  SaveStateEntryInfo,
  LoadSetupContext,
  SaveVMHandlers,
  SaveVMHook,
} from './handlers.js';

// Errors.
export {
  MigrationError,
  MigrationCancelledError,
  errnoNameOf,
  messageOf,
  type MigrationPhase,
  type MigrationErrorInit,
  type EntryRef,
  type SectionRef,
} from './errors.js';

// The registry.
export { SaveStateRegistry, RegistrationError, type RegisterOptions } from './registry/registry.js';
export { SaveStateEntry } from './registry/save-state-entry.js';

// Run state.
export { RunState } from './run-state/run-state.js';
export { RunStateController } from './run-state/run-state-controller.js';
export {
  RunStateChangeError,
  type VmChangeStateHandler,
  type ChangeHandlerOptions,
  type ChangeHandlerFailure,
  type Disposable,
} from './run-state/change-handlers.js';

// Blockers and migration-status hooks.
export { MigrationBlockers, type MigrationBlocker } from './lifecycle/migration-blockers.js';
export {
  MigrationNotifiers,
  type MigrationNotifier,
  type MigrationEvent,
  type MigrationEventType,
} from './lifecycle/migration-notifiers.js';

// Parameters, status and progress.
export {
  DEFAULT_DOWNTIME_LIMIT_MS,
  MAX_DOWNTIME_LIMIT_MS,
  DEFAULT_MAX_BANDWIDTH,
  DEFAULT_MIGRATION_PARAMETERS,
  resolveParameters,
  type MigrationParameters,
  type IterationCapPolicy,
  type SwitchoverAckGate,
} from './parameters.js';
export {
  MigrationStatus,
  isMigrationRunning,
  hasMigrationFailed,
  isMigrationFinished,
} from './status/migration-status.js';
export type { MigrationInfo, EntryProgress } from './status/migration-info.js';

// The drivers.
export { systemClock, type MigrationClock } from './driver/clock.js';
export { MigrationSource, type MigrationSourceDeps } from './driver/source/migration-source.js';
export { MigrationDestination, type MigrationDestinationDeps } from './driver/destination/migration-destination.js';
export type { IncomingOptions } from './driver/destination/incoming-run.js';

// Tracing.
export {
  TracePoint,
  isTracing,
  type TracePointName,
  type TracePayloads,
  type SectionTrace,
} from './tracing/trace-points.js';

// Wiring.
export {
  HANDLER_PROVIDER,
  SAVE_STATE_REGISTRY,
  RUN_STATE_CONTROLLER,
  MIGRATION_BLOCKERS,
  MIGRATION_NOTIFIERS,
  MIGRATION_CLOCK,
  MIGRATION_SOURCE,
  MIGRATION_DESTINATION,
  PROVIDER_SELECTOR,
  DEVICE_MIGRATION_ATTACHER,
} from './wiring/tokens.js';
export type { HandlerProvider, ProbeVerdict, DeviceMigrationSpec } from './wiring/handler-provider.js';
export {
  ProviderSelector,
  NoHandlerProviderError,
  type ProviderVerdict,
  type ProviderSelection,
} from './wiring/provider-selector.js';
export {
  DeviceMigrationAttacher,
  type AttachedDevice,
  type BlockedDevice,
} from './wiring/device-migration-attacher.js';
export { coreContainerModule } from './wiring/core-module.js';
