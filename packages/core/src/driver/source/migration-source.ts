import type { Observable } from 'rxjs';
import { QemuFileWriter, type WriteChannel } from '@savevm/stream';
import { MigrationError } from '../../errors.js';
import type { MigrationBlockers } from '../../lifecycle/migration-blockers.js';
import type { MigrationNotifiers } from '../../lifecycle/migration-notifiers.js';
import { type MigrationParameters, resolveParameters } from '../../parameters.js';
import type { SaveStateRegistry } from '../../registry/registry.js';
import type { RunStateController } from '../../run-state/run-state-controller.js';
import type { MigrationInfo } from '../../status/migration-info.js';
import { type MigrationClock, systemClock } from '../clock.js';
import { asInfoObservable, createInfoSubject } from '../status-publisher.js';
import { SourceRun } from './source-run.js';
import type { MultifdSendChannels } from '../../multifd/multifd-send-channels.js';

/** What the source driver works with. */
export interface MigrationSourceDeps {
  /** The save-state entries. */
  readonly registry: SaveStateRegistry;
  /** The VM's run state (stopped at switchover, restarted on failure). */
  readonly runState: RunStateController;
  /** Blockers that refuse `migrate` before setup. */
  readonly blockers: MigrationBlockers;
  /** Migration-status hooks. */
  readonly notifiers: MigrationNotifiers;
  /** The time source (default: the system clock). */
  readonly clock?: MigrationClock;
}

/** How the stream of one migration ends. */
export interface MigrateStreamOptions {
  /**
   * Called after the last byte was flushed, before the destination's verdict and before
   * COMPLETED: ends the stream (closes a file, waits for an `exec:` command to exit). A
   * throw fails the migration, and the VM runs again.
   */
  readonly finishStream?: () => Promise<void>;
  /**
   * The migration's multifd channels, connected and with their initial packets put
   * (docs/design/multifd.md). The caller owns them and closes them afterwards.
   */
  readonly multifd?: MultifdSendChannels;
}

/**
 * The source side (QMP `migrate`, `migrate_cancel`, `query-migrate`): writes the device
 * state of every registered entry to a `QemuFileWriter`, one migration at a time.
 */
export class MigrationSource {
  private current: SourceRun | undefined;
  private readonly subject = createInfoSubject();
  private readonly clock: MigrationClock;

  /** @param deps registry, run state, blockers, notifiers and an optional clock */
  constructor(private readonly deps: MigrationSourceDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * The latest `MigrationInfo`, pushed on every status change and every loop round; after
   * a migration ends it holds that migration's final value.
   */
  get info$(): Observable<MigrationInfo> {
    return asInfoObservable(this.subject);
  }

  /** The latest info (QMP `query-migrate`). */
  get info(): MigrationInfo {
    return this.subject.value;
  }

  /** Whether a migration is in progress. */
  get isRunning(): boolean {
    return this.current !== undefined;
  }

  /**
   * Why `migrate` would refuse now, if it would (QEMU `migrate_prepare`, checked before any
   * connection is made): `busy` while a migration is in progress, else `blocked` while a
   * blocker is registered, naming every blocker.
   */
  refusal(): MigrationError | undefined {
    if (this.current) {
      return new MigrationError({ phase: 'busy', reason: 'BLOCKED', detail: 'a migration is already in progress', errno: 'EBUSY' });
    }
    const blockers = this.deps.blockers.list();
    if (blockers.length === 0) return undefined;
    return new MigrationError({
      phase: 'blocked',
      reason: 'BLOCKED',
      detail: `migration is blocked: ${blockers.map((b) => (b.owner ? `${b.owner}: ${b.reason}` : b.reason)).join('; ')}`,
      errno: 'EPERM',
    });
  }

  /**
   * Migrates to `f`. With `parameters.returnPath`, the migration completes only once the
   * destination said it loaded the state. Resolves with the final info once the stream is complete and every
   * `saveCleanup` ran; rejects with a {@link MigrationError} (naming phase, entry and hook)
   * after the VM was restarted and cleanup ran. The caller owns `f` and closes it.
   * @throws MigrationError `busy` when a migration is already running, `blocked` when a blocker is registered
   */
  async migrate(f: QemuFileWriter, parameters: Partial<MigrationParameters> = {}, options: MigrateStreamOptions = {}): Promise<MigrationInfo> {
    const refusal = this.refusal();
    if (refusal) throw refusal;
    const params = resolveParameters(parameters);
    const run = new SourceRun(f, {
      entries: this.deps.registry.list(),
      runState: this.deps.runState,
      notifiers: this.deps.notifiers,
      params,
      clock: this.clock,
      infos: this.subject,
      finishStream: options.finishStream,
      multifd: options.multifd,
    });
    this.current = run;
    try {
      return await run.run();
    } finally {
      this.current = undefined;
    }
  }

  /**
   * Migrates over a channel: wraps it in a writer, migrates, then closes the channel
   * (also on failure).
   */
  async migrateToChannel(channel: WriteChannel, parameters: Partial<MigrationParameters> = {}): Promise<MigrationInfo> {
    const f = new QemuFileWriter(channel);
    try {
      return await this.migrate(f, parameters);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Cancels the running migration (QMP `migrate_cancel`) in any phase. `migrate` then
   * rejects with a `MigrationCancelledError` once the VM runs again and cleanup ran.
   * @returns false when no migration was running
   */
  cancel(): boolean {
    return this.current?.cancel() ?? false;
  }
}
