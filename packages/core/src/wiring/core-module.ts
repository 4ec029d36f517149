import 'reflect-metadata';
import { ContainerModule } from 'inversify';
import { systemClock, type MigrationClock } from '../driver/clock.js';
import { MigrationDestination } from '../driver/destination/migration-destination.js';
import { MigrationSource } from '../driver/source/migration-source.js';
import { DeviceEvents } from '../lifecycle/device-events.js';
import { MigrationBlockers } from '../lifecycle/migration-blockers.js';
import { MigrationNotifiers } from '../lifecycle/migration-notifiers.js';
import { SaveStateRegistry } from '../registry/registry.js';
import { RunStateController } from '../run-state/run-state-controller.js';
import { DeviceMigrationAttacher } from './device-migration-attacher.js';
import { ProviderSelector } from './provider-selector.js';
import {
  DEVICE_EVENTS,
  DEVICE_MIGRATION_ATTACHER,
  MIGRATION_BLOCKERS,
  MIGRATION_CLOCK,
  MIGRATION_DESTINATION,
  MIGRATION_NOTIFIERS,
  MIGRATION_SOURCE,
  PROVIDER_SELECTOR,
  RUN_STATE_CONTROLLER,
  SAVE_STATE_REGISTRY,
} from './tokens.js';

/**
 * Binds the core services as singletons: registry, run state, blockers, device events,
 * notifiers, clock, source, destination, provider selector and device attacher. Device packages
 * add their providers with `bind(HANDLER_PROVIDER).to(…)` in their own module.
 */
export const coreContainerModule = new ContainerModule(({ bind }) => {
  bind(SAVE_STATE_REGISTRY).toDynamicValue(() => new SaveStateRegistry()).inSingletonScope();
  bind(RUN_STATE_CONTROLLER).toDynamicValue(() => new RunStateController()).inSingletonScope();
  bind(MIGRATION_BLOCKERS).toDynamicValue(() => new MigrationBlockers()).inSingletonScope();
  bind(DEVICE_EVENTS).toDynamicValue(() => new DeviceEvents()).inSingletonScope();
  bind(MIGRATION_NOTIFIERS).toDynamicValue(() => new MigrationNotifiers()).inSingletonScope();
  bind<MigrationClock>(MIGRATION_CLOCK).toConstantValue(systemClock);
  bind(MIGRATION_SOURCE)
    .toResolvedValue(
      (registry: SaveStateRegistry, runState: RunStateController, blockers: MigrationBlockers, notifiers: MigrationNotifiers, clock: MigrationClock) =>
        new MigrationSource({ registry, runState, blockers, notifiers, clock }),
      [SAVE_STATE_REGISTRY, RUN_STATE_CONTROLLER, MIGRATION_BLOCKERS, MIGRATION_NOTIFIERS, MIGRATION_CLOCK],
    )
    .inSingletonScope();
  bind(MIGRATION_DESTINATION)
    .toResolvedValue(
      (registry: SaveStateRegistry, runState: RunStateController, clock: MigrationClock) =>
        new MigrationDestination({ registry, runState, clock }),
      [SAVE_STATE_REGISTRY, RUN_STATE_CONTROLLER, MIGRATION_CLOCK],
    )
    .inSingletonScope();
  bind(PROVIDER_SELECTOR).to(ProviderSelector).inSingletonScope();
  bind(DEVICE_MIGRATION_ATTACHER).to(DeviceMigrationAttacher).inSingletonScope();
});
