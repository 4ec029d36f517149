import type { Disposable } from '../run-state/change-handlers.js';

/** One registered blocker. */
export interface MigrationBlocker {
  /** Why migration is impossible (shown to the user). */
  readonly reason: string;
  /** Who added it (a device id, a feature), for messages. */
  readonly owner: string | undefined;
}

/**
 * Migration blockers (QEMU `migrate_add_blocker`): while any is registered, `migrate`
 * fails before setup with every blocker's reason. A device that no provider can migrate
 * installs one.
 */
export class MigrationBlockers {
  private blockers: MigrationBlocker[] = [];

  /** Adds a blocker; dispose the result to remove it. */
  add(reason: string, owner?: string): Disposable {
    const blocker: MigrationBlocker = { reason, owner };
    this.blockers = [...this.blockers, blocker];
    return {
      dispose: () => {
        this.blockers = this.blockers.filter((b) => b !== blocker);
      },
    };
  }

  /** The blockers now registered. */
  list(): readonly MigrationBlocker[] {
    return this.blockers;
  }
}
