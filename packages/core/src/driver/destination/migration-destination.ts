import type { Observable } from 'rxjs';
import { QemuFileReader, type ReadChannel } from '@savevm/stream';
import { MigrationError } from '../../errors.js';
import type { SaveStateRegistry } from '../../registry/registry.js';
import type { RunStateController } from '../../run-state/run-state-controller.js';
import type { MigrationInfo } from '../../status/migration-info.js';
import { type MigrationClock, systemClock } from '../clock.js';
import { asInfoObservable, createInfoSubject } from '../status-publisher.js';
import { type DestinationOptions, DestinationRun } from './destination-run.js';

/** What the destination driver works with. */
export interface MigrationDestinationDeps {
  /** The local save-state entries. */
  readonly registry: SaveStateRegistry;
  /** The VM's run state (INMIGRATE while loading; started or paused afterwards). */
  readonly runState: RunStateController;
  /** The time source (default: the system clock). */
  readonly clock?: MigrationClock;
}

/**
 * The destination side (QEMU `-incoming` + `qemu_loadvm_state`): reads a migration stream
 * from a `QemuFileReader` into the registered entries, one load at a time.
 */
export class MigrationDestination {
  private running = false;
  private readonly subject = createInfoSubject();
  private readonly clock: MigrationClock;

  /** @param deps registry, run state and an optional clock */
  constructor(private readonly deps: MigrationDestinationDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The latest `MigrationInfo` (status NONE → SETUP → ACTIVE → COMPLETED or FAILED). */
  get info$(): Observable<MigrationInfo> {
    return asInfoObservable(this.subject);
  }

  /** The latest info. */
  get info(): MigrationInfo {
    return this.subject.value;
  }

  /**
   * Loads a whole stream. Resolves with the final info after every `loadCleanup` ran
   * (and the VM started, with `autostart`); rejects with a {@link MigrationError} naming
   * the section, the idstr, the instance and the byte offset, after `loadCleanup` ran.
   * The caller owns `f`.
   */
  async load(f: QemuFileReader, options: DestinationOptions = {}): Promise<MigrationInfo> {
    if (this.running) {
      throw new MigrationError({ phase: 'busy', reason: 'BLOCKED', detail: 'an incoming migration is already in progress', errno: 'EBUSY' });
    }
    this.running = true;
    try {
      return await new DestinationRun(f, { ...this.deps, clock: this.clock, infos: this.subject }, options).run();
    } finally {
      this.running = false;
    }
  }

  /** Loads from a channel: wraps it in a reader, loads, then closes the channel (also on failure). */
  async loadFromChannel(channel: ReadChannel, options: DestinationOptions = {}): Promise<MigrationInfo> {
    try {
      return await this.load(new QemuFileReader(channel), options);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}
