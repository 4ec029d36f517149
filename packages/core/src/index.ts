/**
 * `@savevm/core`: QEMU's SaveVMHandlers contract, the save-state registry, the migration
 * driver (source and destination), VM run state with ordered change handlers, migration
 * status and progress as rxjs observables, trace points, and the inversify wiring that
 * picks a handler provider by probing.
 * @packageDocumentation
 */

// The contract a device implements.
export type {
  MaybePromise,
  PendingBytes,
  SaveStateEntryInfo,
  LoadSetupContext,
  LoadOutcome,
  SaveVMHandlers,
  SaveVMHook,
} from './handlers.js';
export type {
  MultifdSettings,
  MultifdSyncMode,
  MultifdRamSender,
  MultifdRamTarget,
  MultifdRamReceiver,
  DeviceStateSender,
  SaveSetupContext,
  SwitchoverStartContext,
  LoadStateBufferContext,
} from './multifd/multifd-contract.js';
export { MultifdSendChannels, type MultifdChannelStats } from './multifd/multifd-send-channels.js';
export { MultifdChannelError } from './multifd/multifd-channel-error.js';
export { multifdSettingsFor, MAX_MULTIFD_CHANNELS } from './multifd/multifd-settings.js';
export { isPromiseLike } from './maybe-promise.js';
export {
  MultifdReceiveChannels,
  MAX_DEVICE_STATE_PACKET_BYTES,
  type MultifdReceiveOptions,
  type MultifdReceiveStats,
} from './multifd/multifd-receive-channels.js';

// Errors.
export {
  MigrationError,
  MigrationCancelledError,
  MigrationErrorReason,
  errnoNameOf,
  messageOf,
  type MigrationPhase,
  type MigrationErrorInit,
  type EntryRef,
  type SectionRef,
} from './errors.js';
export { reasonOf, isMigrationErrorReason } from './failure-reason.js';

// The registry.
export { SaveStateRegistry, RegistrationError, type RegisterOptions } from './registry/registry.js';
export { SaveStateEntry } from './registry/save-state-entry.js';

// Declarative state (QEMU's VMStateDescription).
export { defineVmState, type VmStateDescription, type VmStateSubsection } from './vmstate/description.js';
export {
  vmstateFields,
  vmstateElements,
  type VmStateFieldFactory,
  type VmStateElementFactory,
  type VmStateFieldOptions,
  type VmStateField,
  type VmStateFieldBase,
  type VmStateScalarField,
  type VmStateStructField,
  type VmStateBufferField,
  type VmStateVarBufferField,
  type VmStateUnusedField,
  type VmStateArrayField,
  type VmStateVarArrayField,
  type VmStateElement,
  type VmStateScalarElement,
  type VmStateStructElement,
  type VmStateScalarType,
  type VmStateIntegerType,
  type KeysOfType,
  type ElementOf,
} from './vmstate/fields.js';
export {
  VmStateDefinitionError,
  VmStateSaveError,
  VmStateLoadError,
  type VmStateLoadReason,
  type VmStateLoadErrorInit,
} from './vmstate/errors.js';
export { saveVmState } from './vmstate/save.js';
export { loadVmState } from './vmstate/load.js';
export type { DecodedVmState, DecodedVmStateValue } from './vmstate/decode.js';
export { applyVmState } from './vmstate/apply.js';
export { recordSavedVmdesc } from './vmstate/vmdesc-record.js';
export {
  registerVmState,
  vmStateHandlers,
  type VmStateHandlers,
  type RegisterVmStateOptions,
} from './vmstate/register.js';
export { qemuTimerVmState, createQemuTimerState, type QemuTimerState } from './vmstate/qemu-timer.js';
export {
  qemuGlobalStateVmState,
  qemuGlobalStateHandlers,
  registerQemuGlobalState,
  createQemuGlobalState,
  runStateNameOf,
  type QemuGlobalState,
  type QemuGlobalStateHandlers,
} from './vmstate/qemu-globalstate.js';

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
export { DeviceEvents, type DeviceEvent, type DeviceEventValue } from './lifecycle/device-events.js';
export {
  MigrationNotifiers,
  type MigrationNotifier,
  type MigrationEvent,
  type MigrationEventType,
} from './lifecycle/migration-notifiers.js';

// QEMU's return path, as the drivers see it.
export {
  type DestinationVerdict,
  type VerdictLoaded,
  type VerdictFailed,
  type VerdictClosed,
  type VerdictInvalid,
  type VerdictTimeout,
  type SourceReturnPath,
  type DestinationReturnPath,
} from './return-path.js';

// Parameters, status and progress.
export {
  type MigrationParameters,
  type IterationCapPolicy,
  type SwitchoverAckGate,
  DEFAULT_CONVERGENCE_POLICY,
  type ConvergencePolicy,
} from './parameters.js';
export { ConvergenceMonitor, type ConvergenceAction } from './driver/convergence-policy.js';
export { MigrationStatus } from './status/migration-status.js';
export type { MigrationInfo, EntryProgress, ConvergenceInfo, MultifdChannelProgress } from './status/migration-info.js';
export { DEFAULT_STREAM_COMPAT, type StreamCompat, type GlobalStateLayout } from './stream-compat.js';

// The drivers.
export type { MigrationClock } from './driver/clock.js';
export { MigrationSource, type MigrationSourceDeps, type MigrateStreamOptions } from './driver/source/migration-source.js';
export { MigrationDestination, type MigrationDestinationDeps } from './driver/destination/migration-destination.js';
export type { DestinationOptions } from './driver/destination/destination-run.js';

// Tracing.
export {
  TracePoint,
  type TracePointName,
  type TracePayloads,
  type SectionTrace,
} from './tracing/trace-points.js';
export { TraceChannels, type TracePointNames } from './tracing/trace-channels.js';

// Wiring.
export {
  HANDLER_PROVIDER,
  SAVE_STATE_REGISTRY,
  RUN_STATE_CONTROLLER,
  MIGRATION_BLOCKERS,
  DEVICE_EVENTS,
  MIGRATION_NOTIFIERS,
  MIGRATION_CLOCK,
  MIGRATION_SOURCE,
  MIGRATION_DESTINATION,
  PROVIDER_SELECTOR,
  DEVICE_MIGRATION_ATTACHER,
} from './wiring/tokens.js';
export type { HandlerProvider, ProbeVerdict, DeviceMigrationSpec, DeviceAttachContext } from './wiring/handler-provider.js';
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
