/**
 * The v1 device's migration-status hook (docs/design/vfio-uapi.md §7.6): after a failed or
 * cancelled migration, clear SAVING and RESUMING, and RUNNING again if the VM runs. (QEMU
 * 7.x set RUNNING even for a paused VM; here the device follows the VM.)
 */
import type { MigrationEvent, MigrationNotifier } from '@savevm/core';
import { V1State } from '@savevm/vfio';
import { V1Transition } from './device-state.js';
import type { V1MigrationRegion } from './migration-region.js';
import type { VmRunning } from './run-state-handler.js';
import { changeV1StateOrReset } from './set-state.js';

/** The migration-status hook of one v1 device: puts it back after a failed or cancelled migration, as `vm` says the VM is. */
export function createV1MigrationStatusHook(region: V1MigrationRegion, vm: VmRunning): MigrationNotifier {
  return (event: MigrationEvent): void => {
    if (event.type !== 'precopy-failed') return;
    changeV1StateOrReset(region, vm.running ? V1Transition.RUN : { clear: V1State.MASK, set: V1State.STOP }, 'migration-status');
  };
}
