/**
 * Migration statuses by QEMU's QAPI names (`MigrationStatus`). Use the names, never
 * numbers: QEMU renumbers them when it inserts a state.
 */
export const MigrationStatus = {
  /** `none`: no migration has been started. */
  NONE: 'none',
  /** `setup`: the migration is being set up (channels, handler save_setup). */
  SETUP: 'setup',
  /** `cancelling`: a cancel was asked for and cleanup is still running. */
  CANCELLING: 'cancelling',
  /** `cancelled`: the migration was cancelled; the source keeps running. */
  CANCELLED: 'cancelled',
  /** `active`: pre-copy is in progress; the guest still runs on the source. */
  ACTIVE: 'active',
  /** `postcopy-active`: the guest runs on the destination, which pulls the remaining pages. */
  POSTCOPY_ACTIVE: 'postcopy-active',
  /** `postcopy-paused`: postcopy lost its channel and waits to be recovered. */
  POSTCOPY_PAUSED: 'postcopy-paused',
  /** `postcopy-recover-setup` (QEMU 9.1+): a paused postcopy is reconnecting. */
  POSTCOPY_RECOVER_SETUP: 'postcopy-recover-setup',
  /** `postcopy-recover`: a paused postcopy is resynchronising before it resumes. */
  POSTCOPY_RECOVER: 'postcopy-recover',
  /** `completed`: all state was sent and the destination took over. */
  COMPLETED: 'completed',
  /** `failed`: the migration hit an error; the source resumes the guest if it can. */
  FAILED: 'failed',
  /** `colo`: the pair is in COLO fault-tolerance mode after the initial migration. */
  COLO: 'colo',
  /** `pre-switchover`: paused before switchover, waiting for `migrate-continue` (capability pause-before-switchover). */
  PRE_SWITCHOVER: 'pre-switchover',
  /** `device`: switchover: the VM is stopped and the final device state is sent. */
  DEVICE: 'device',
  /** `wait-unplug`: waiting for failover devices (e.g. a VFIO NIC) to be unplugged before migrating. */
  WAIT_UNPLUG: 'wait-unplug',
} as const;

/** One of QEMU's migration status names. */
export type MigrationStatus = (typeof MigrationStatus)[keyof typeof MigrationStatus];

const RUNNING: ReadonlySet<MigrationStatus> = new Set<MigrationStatus>([
  'setup',
  'active',
  'postcopy-active',
  'postcopy-paused',
  'postcopy-recover-setup',
  'postcopy-recover',
  'pre-switchover',
  'device',
  'wait-unplug',
  'cancelling',
]);

/** QEMU `migration_is_running`: a migration is in progress (including cancelling). */
export function isMigrationRunning(status: MigrationStatus): boolean {
  return RUNNING.has(status);
}

/** QEMU `migration_has_failed`: cancelled or failed. */
export function hasMigrationFailed(status: MigrationStatus): boolean {
  return status === 'cancelled' || status === 'failed';
}

/** A status a migration ends in. */
export function isMigrationFinished(status: MigrationStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}
