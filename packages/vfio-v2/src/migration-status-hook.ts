/**
 * The device's migration-status hook (QEMU `vfio_migration_state_notifier`): when a migration
 * fails or is cancelled, the device goes back to RUNNING (recover ERROR: a reset if that
 * fails), whatever phase it was left in.
 */
import type { MigrationNotifier } from '@savevm/core';
import { MigState } from '@savevm/vfio';
import { VfioV2MigrationError } from './errors.js';
import type { DeviceMigrationState } from './migration-state.js';
import { traceVfio } from './tracing.js';

/** Creates the migration-status hook of one device. */
export function createMigrationStatusHook(state: DeviceMigrationState): MigrationNotifier {
  return (event) => {
    traceVfio('vfio_migration_state_notifier', { device: state.name, event: event.type });
    if (event.type !== 'precopy-failed') return;
    try {
      state.setStateOrReset(MigState.RUNNING);
    } catch (cause) {
      throw new VfioV2MigrationError({ device: state.name, phase: 'restart', operation: 'back to RUNNING after a failed migration', cause });
    }
  };
}
