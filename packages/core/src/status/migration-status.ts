/**
 * Migration statuses by QEMU's QAPI names (`MigrationStatus`). Use the names, never
 * numbers: QEMU renumbers them when it inserts a state.
 */
export const MigrationStatus = {
  NONE: 'none',
  SETUP: 'setup',
  CANCELLING: 'cancelling',
  CANCELLED: 'cancelled',
  ACTIVE: 'active',
  POSTCOPY_ACTIVE: 'postcopy-active',
  POSTCOPY_PAUSED: 'postcopy-paused',
  POSTCOPY_RECOVER_SETUP: 'postcopy-recover-setup',
  POSTCOPY_RECOVER: 'postcopy-recover',
  COMPLETED: 'completed',
  FAILED: 'failed',
  COLO: 'colo',
  PRE_SWITCHOVER: 'pre-switchover',
  DEVICE: 'device',
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
