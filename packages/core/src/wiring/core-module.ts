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
import type { HandlerProvider } from './handler-provider.js';
import { ProviderSelector } from './provider-selector.js';
import {
  DEVICE_EVENTS,
  HANDLER_PROVIDER,
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
 * notifiers, clock, source, destination, provider selector and device attacher. Every service
 * is built by a factory from the services it names (inversify's `toResolvedValue`), so the
 * classes carry no decorators. Device packages add their providers with
 * `bind(HANDLER_PROVIDER).toConstantValue(…)` in their own module.
 */
export const coreContainerModule = new ContainerModule(({ bind }) => {
  bind(SAVE_STATE_REGISTRY).toResolvedValue(() => new SaveStateRegistry()).inSingletonScope();
  bind(RUN_STATE_CONTROLLER).toResolvedValue(() => new RunStateController()).inSingletonScope();
  bind(MIGRATION_BLOCKERS).toResolvedValue(() => new MigrationBlockers()).inSingletonScope();
  bind(DEVICE_EVENTS).toResolvedValue(() => new DeviceEvents()).inSingletonScope();
  bind(MIGRATION_NOTIFIERS).toResolvedValue(() => new MigrationNotifiers()).inSingletonScope();
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
  bind(PROVIDER_SELECTOR)
    .toResolvedValue(
      (providers: HandlerProvider[] | undefined) => new ProviderSelector(providers),
      [{ serviceIdentifier: HANDLER_PROVIDER, isMultiple: true, optional: true }],
    )
    .inSingletonScope();
  bind(DEVICE_MIGRATION_ATTACHER)
    .toResolvedValue(
      (
        selector: ProviderSelector,
        registry: SaveStateRegistry,
        runState: RunStateController,
        notifiers: MigrationNotifiers,
        blockers: MigrationBlockers,
        events: DeviceEvents | undefined,
      ) => new DeviceMigrationAttacher(selector, registry, runState, notifiers, blockers, events),
      [
        PROVIDER_SELECTOR,
        SAVE_STATE_REGISTRY,
        RUN_STATE_CONTROLLER,
        MIGRATION_NOTIFIERS,
        MIGRATION_BLOCKERS,
        { serviceIdentifier: DEVICE_EVENTS, optional: true },
      ],
    )
    .inSingletonScope();
});
