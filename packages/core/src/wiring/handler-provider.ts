/**
 * What a device package implements to plug into the wiring: a `HandlerProvider` that
 * says whether it can migrate a device and, if so, describes the device's migration
 * (its handlers, its run-state change handler with an optional prepare phase, and its
 * migration-status hook). Bind it with
 * `bind(HANDLER_PROVIDER).to(MyProvider)` (or `toConstantValue`).
 */
import type { MaybePromise, SaveVMHandlers } from '../handlers.js';
import type { DeviceEvents } from '../lifecycle/device-events.js';
import type { MigrationBlockers } from '../lifecycle/migration-blockers.js';
import type { MigrationNotifier } from '../lifecycle/migration-notifiers.js';
import type { Disposable, VmChangeStateHandler } from '../run-state/change-handlers.js';

/** A provider's answer to `probe`. */
export interface ProbeVerdict {
  /** Whether this provider can migrate the device. */
  readonly accepted: boolean;
  /** Why (or why not): shown when no provider accepts, e.g. "MIGRATION feature: ENOTTY". */
  readonly reason: string;
}

/** The VM's services a device may use while it is attached (see {@link DeviceMigrationSpec.attached}). */
export interface DeviceAttachContext {
  /** The name the device is attached under. */
  readonly name: string;
  /** The VM's migration blockers (a rule over several devices adds and lifts its own). */
  readonly blockers: MigrationBlockers;
  /** The VM's device events (QMP-style events, e.g. VFIO_MIGRATION). */
  readonly events: DeviceEvents;
}

/** Everything needed to make one device migratable; registered by the attacher. */
export interface DeviceMigrationSpec {
  /** Section idstr (VFIO: `<qdev path>/vfio`). */
  readonly idstr: string;
  /** Instance id (default `INSTANCE_ID_ANY`: next free for the idstr). */
  readonly instanceId?: number;
  /** Version this device writes and the newest it accepts. */
  readonly versionId: number;
  /** Oldest version it accepts (default 0). */
  readonly minimumVersionId?: number;
  /** Ordering priority in the save/load lists (default 0). */
  readonly priority?: number;
  /** The SaveVMHandlers. */
  readonly handlers: SaveVMHandlers;
  /**
   * A VM change-state handler: `prepare` runs for every device before any `change`
   * (VFIO: RUNNING ↔ RUNNING_P2P), then `change` (VFIO: RUNNING_P2P ↔ STOP).
   */
  readonly runStateHandler?: VmChangeStateHandler;
  /** Its priority: ascending on start, descending on stop (QEMU: qdev tree depth). */
  readonly runStatePriority?: number;
  /** A migration-status hook (VFIO: back to RUNNING on `precopy-failed`). */
  readonly migrationNotifier?: MigrationNotifier;
  /**
   * Called once the device is registered, with the VM's services; what it returns is
   * disposed when the device is detached (VFIO: the multi-device P2P rule's blocker, the
   * VFIO_MIGRATION events). A throw fails the attach and undoes the registration.
   */
  readonly attached?: (context: DeviceAttachContext) => Disposable;
}

/**
 * A source of handlers for one kind of device (VFIO v2, VFIO v1, a custom device…).
 * Providers are asked in descending `priority`; the first to accept wins.
 */
export interface HandlerProvider<Device = unknown> {
  /** A short name for messages (e.g. `vfio-v2`). */
  readonly name: string;
  /** Higher is asked first; equal priorities keep binding order. */
  readonly priority: number;
  /** Whether this provider can migrate `device`, with the reason. Should not throw; a throw counts as a refusal. */
  probe(device: Device): MaybePromise<ProbeVerdict>;
  /** Describes the device's migration; called only after `probe` accepted. */
  create(device: Device): MaybePromise<DeviceMigrationSpec>;
}
