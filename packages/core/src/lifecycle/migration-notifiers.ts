import type { MaybePromise } from '../handlers.js';
import type { Disposable } from '../run-state/change-handlers.js';

/**
 * Events of a migration's life (QEMU 9.0+ `MigrationEventType`). Legal orders:
 * setup → done, setup → failed, or failed alone.
 */
export type MigrationEventType =
  /** Before any section is written. A notifier may throw to refuse the migration. */
  | 'precopy-setup'
  /** The migration completed and cleanup ran. */
  | 'precopy-done'
  /** The migration failed or was cancelled; the VM was restarted and cleanup ran. */
  | 'precopy-failed';

/** What a migration-status notifier receives. */
export interface MigrationEvent {
  /** Which event. */
  readonly type: MigrationEventType;
  /** The error, for `precopy-failed`. */
  readonly error?: Error;
}

/**
 * A migration-status hook (QEMU `migration_add_notifier`). VFIO uses it to put a device
 * back to RUNNING when a migration fails. Only `precopy-setup` may throw (the migration
 * then fails before setup); throws from the other events are reported in the error
 * of a failed migration or ignored after a completed one.
 */
export type MigrationNotifier = (event: MigrationEvent) => MaybePromise<void>;

/** The list of migration-status hooks, called in registration order. */
export class MigrationNotifiers {
  private notifiers: MigrationNotifier[] = [];

  /** Adds a hook; dispose the result to remove it. */
  add(notifier: MigrationNotifier): Disposable {
    this.notifiers = [...this.notifiers, notifier];
    return {
      dispose: () => {
        this.notifiers = this.notifiers.filter((n) => n !== notifier);
      },
    };
  }

  /**
   * Calls every hook with `event`. For `precopy-setup` the first throw stops and
   * propagates; for the others every hook runs and the failures are returned.
   */
  async notify(event: MigrationEvent): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (const notifier of this.notifiers) {
      try {
        await notifier(event);
      } catch (err) {
        if (event.type === 'precopy-setup') throw err;
        failures.push(err);
      }
    }
    return failures;
  }
}
