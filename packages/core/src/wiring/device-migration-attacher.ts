import { INSTANCE_ID_ANY } from '@savevm/stream';
import { DeviceEvents } from '../lifecycle/device-events.js';
import type { MigrationBlockers } from '../lifecycle/migration-blockers.js';
import type { MigrationNotifiers } from '../lifecycle/migration-notifiers.js';
import type { SaveStateRegistry } from '../registry/registry.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import type { Disposable } from '../run-state/change-handlers.js';
import type { RunStateController } from '../run-state/run-state-controller.js';
import type { HandlerProvider } from './handler-provider.js';
import { NoHandlerProviderError, type ProviderSelector, type ProviderVerdict } from './provider-selector.js';

/** A device made migratable. */
export interface AttachedDevice {
  /** The provider that took it. */
  readonly provider: HandlerProvider;
  /** Its save-state entry. */
  readonly entry: SaveStateEntry;
  /** Every verdict gathered while selecting. */
  readonly verdicts: readonly ProviderVerdict[];
  /** Unregisters the entry, the run-state handler and the notifier, and disposes the spec's `attached` hook. */
  detach(): void;
}

/** A device no provider could take, with the blocker installed for it. */
export interface BlockedDevice {
  /** The selection error (every provider's reason). */
  readonly error: NoHandlerProviderError;
  /** The blocker; dispose to lift it. */
  readonly blocker: Disposable;
}

/**
 * Selects a provider for a device and registers what it creates: the save-state entry,
 * the run-state change handler and the migration-status hook, then calls the spec's
 * `attached` hook with the VM's blockers and device events.
 */
export class DeviceMigrationAttacher {
  /** The device events attached devices emit into (the bound `DEVICE_EVENTS`, or one of its own). */
  readonly events: DeviceEvents;

  /** @param selector picks the provider; the rest receive the registrations */
  constructor(
    private readonly selector: ProviderSelector,
    private readonly registry: SaveStateRegistry,
    private readonly runState: RunStateController,
    private readonly notifiers: MigrationNotifiers,
    private readonly blockers: MigrationBlockers,
    events?: DeviceEvents,
  ) {
    this.events = events ?? new DeviceEvents();
  }

  /**
   * Makes `device` migratable.
   * @throws NoHandlerProviderError when no provider accepts it
   */
  async attach<Device>(device: Device, describe: string = String(device)): Promise<AttachedDevice> {
    const { provider, verdicts } = await this.selector.select(device, describe);
    const spec = await provider.create(device);
    const options = {
      ...(spec.minimumVersionId !== undefined && { minimumVersionId: spec.minimumVersionId }),
      ...(spec.priority !== undefined && { priority: spec.priority }),
    };
    const entry = this.registry.register(spec.idstr, spec.instanceId ?? INSTANCE_ID_ANY, spec.versionId, spec.handlers, options);
    const registrations: Disposable[] = [];
    if (spec.runStateHandler) {
      registrations.push(
        this.runState.addChangeHandler(spec.runStateHandler, {
          priority: spec.runStatePriority ?? 0,
          name: spec.idstr,
          entry: { idstr: entry.idstr, instanceId: entry.instanceId },
        }),
      );
    }
    if (spec.migrationNotifier) registrations.push(this.notifiers.add(spec.migrationNotifier));
    let attached = true;
    const detach = (): void => {
      if (!attached) return;
      attached = false;
      this.registry.unregister(entry);
      // Undone in reverse order: the spec's `attached` hook first.
      for (const r of registrations.reverse()) r.dispose();
    };
    if (spec.attached) {
      try {
        registrations.push(spec.attached({ name: describe, blockers: this.blockers, events: this.events }));
      } catch (err) {
        detach();
        throw err;
      }
    }
    return { provider: provider as HandlerProvider, entry, verdicts, detach };
  }

  /**
   * Like `attach`, but when no provider accepts, installs a migration blocker carrying
   * every provider's reason instead of throwing.
   */
  async attachOrBlock<Device>(device: Device, describe: string = String(device)): Promise<AttachedDevice | BlockedDevice> {
    try {
      return await this.attach(device, describe);
    } catch (err) {
      if (!(err instanceof NoHandlerProviderError)) throw err;
      return { error: err, blocker: this.blockers.add(err.message, describe) };
    }
  }
}
