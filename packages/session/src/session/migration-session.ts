/**
 * The one object a VMM keeps for migration: its registry, run state, blockers and
 * notifiers, wired with the device providers it chose, and `migrate(uri)` /
 * `incoming(uri)` over every transport. See `docs/embedding-in-a-vmm.md`.
 */
import 'reflect-metadata';
import {
  DEVICE_EVENTS,
  DEVICE_MIGRATION_ATTACHER,
  MIGRATION_BLOCKERS,
  MIGRATION_CLOCK,
  MIGRATION_DESTINATION,
  MIGRATION_NOTIFIERS,
  MIGRATION_SOURCE,
  RUN_STATE_CONTROLLER,
  SAVE_STATE_REGISTRY,
  coreContainerModule,
  type AttachedDevice,
  type DeviceEvent,
  type DeviceEvents,
  type DeviceMigrationAttacher,
  type MigrationBlockers,
  type MigrationClock,
  type MigrationDestination,
  type MigrationInfo,
  type MigrationNotifiers,
  type MigrationSource,
  type RunStateController,
  type SaveStateRegistry,
} from '@savevm/core';
import { Container, type ContainerModule } from 'inversify';
import { BehaviorSubject, type Observable, switchAll } from 'rxjs';
import { IncomingMigration } from './incoming-migration.js';
import { migrateToUri } from './outgoing-migration.js';
import type { IncomingParameters, MigrateParameters } from './session-options.js';

/** What {@link createMigrationSession} takes. */
export interface MigrationSessionOptions {
  /**
   * Device providers to probe devices with, in inversify modules — e.g.
   * `vfioV2ContainerModule()` and `vfioV1ContainerModule()` for VFIO devices.
   */
  readonly providers?: readonly ContainerModule[];
  /** The time source (default: the system clock). */
  readonly clock?: MigrationClock;
}

/**
 * A VM's migration: the devices registered with it move with `migrate(uri)` and arrive
 * with `incoming(uri)`. One migration at a time, in either direction.
 */
export class MigrationSession {
  /** The save-state entries: register devices here (or with `attach`). */
  readonly registry: SaveStateRegistry;
  /** The VM's run state: start it, stop it; devices hook their quiescing into it. */
  readonly runState: RunStateController;
  /** Reasons the VM cannot migrate now; `migrate` refuses while any is registered. */
  readonly blockers: MigrationBlockers;
  /** Hooks told when a migration sets up, completes or fails. */
  readonly notifiers: MigrationNotifiers;
  /** The attached devices' QMP-style events (e.g. VFIO_MIGRATION); subscribe to `deviceEvents$`. */
  readonly deviceEvents: DeviceEvents;
  /** The outgoing driver (its `info$` is the outgoing migration's progress). */
  readonly source: MigrationSource;
  /** The incoming driver (its `info$` is the incoming migration's progress). */
  readonly destination: MigrationDestination;
  private readonly attacher: DeviceMigrationAttacher;
  /** The direction `info$` follows: the one of the latest `migrate` or `incoming`. */
  private readonly direction: BehaviorSubject<Observable<MigrationInfo>>;
  private followed: 'source' | 'destination' = 'source';

  /** @internal Use {@link createMigrationSession}. */
  constructor(container: Container) {
    this.registry = container.get<SaveStateRegistry>(SAVE_STATE_REGISTRY);
    this.runState = container.get<RunStateController>(RUN_STATE_CONTROLLER);
    this.blockers = container.get<MigrationBlockers>(MIGRATION_BLOCKERS);
    this.notifiers = container.get<MigrationNotifiers>(MIGRATION_NOTIFIERS);
    this.deviceEvents = container.get<DeviceEvents>(DEVICE_EVENTS);
    this.source = container.get<MigrationSource>(MIGRATION_SOURCE);
    this.destination = container.get<MigrationDestination>(MIGRATION_DESTINATION);
    this.attacher = container.get<DeviceMigrationAttacher>(DEVICE_MIGRATION_ATTACHER);
    this.direction = new BehaviorSubject(this.source.info$);
  }

  /**
   * Progress and status of the latest migration in either direction (`migrate` or
   * `incoming`), as pushed; each migration ends with exactly one terminal status.
   */
  get info$(): Observable<MigrationInfo> {
    return this.direction.pipe(switchAll());
  }

  /**
   * The attached devices' events as they happen, in either direction — with VFIO v2 devices
   * whose `migrationEvents` option is on, a `VFIO_MIGRATION` event at each device state
   * change (QEMU 9.1's QMP event; `docs/embedding-in-a-vmm.md` §10). Never replayed.
   */
  get deviceEvents$(): Observable<DeviceEvent> {
    return this.deviceEvents.events$;
  }

  /**
   * Makes a device migratable through the providers: the first whose probe accepts it
   * registers its handlers and run-state hooks under `name`.
   * @throws NoHandlerProviderError listing every provider's reason when none accepts
   */
  attach(device: unknown, name: string): Promise<AttachedDevice> {
    return this.attacher.attach(device, name);
  }

  /**
   * Migrates the VM to `uri` (`tcp:HOST:PORT`, `unix:PATH`, `file:PATH`, `fd:N`,
   * `exec:COMMAND`). Resolves with the final info once the destination has the state — on
   * `tcp:`/`unix:` only after it said so on QEMU's return path — and the VM stays stopped
   * (postmigrate). Rejects with a `MigrationError` whose `reason` says why (the destination's
   * refusal is DESTINATION_FAILED); the VM and its devices then run again as before. What
   * could end without the destination's verdict — `returnPath: false` on a socket, a pipe —
   * is refused before connecting (INVALID_ARGUMENT, `docs/design/return-path.md`).
   */
  migrate(uri: string, parameters: MigrateParameters = {}): Promise<MigrationInfo> {
    this.follow('source');
    return migrateToUri(this.source, uri, parameters);
  }

  /**
   * Waits for a migration on `uri` and loads it. Returns at once: await the result for
   * the final info, and its `listening` for where it waits (with the real port when the URI
   * said 0). The source is told how the load ended.
   */
  incoming(uri: string, parameters: IncomingParameters = {}): IncomingMigration {
    this.follow('destination');
    return new IncomingMigration(this.destination, uri, parameters);
  }

  private follow(side: 'source' | 'destination'): void {
    if (this.followed === side) return;
    this.followed = side;
    this.direction.next(side === 'source' ? this.source.info$ : this.destination.info$);
  }
}

/**
 * Creates a VM's migration session: core's services, plus the given device providers.
 * @example
 * ```ts
 * const vm = await createMigrationSession({ providers: [vfioV2ContainerModule()] });
 * await vm.attach(vfioDevice, 'gpu0');
 * await vm.runState.start();
 * await vm.migrate('tcp:10.0.0.2:4444');
 * ```
 */
export async function createMigrationSession(options: MigrationSessionOptions = {}): Promise<MigrationSession> {
  const container = new Container();
  await container.load(coreContainerModule, ...(options.providers ?? []));
  if (options.clock !== undefined) (await container.rebind<MigrationClock>(MIGRATION_CLOCK)).toConstantValue(options.clock);
  return new MigrationSession(container);
}
