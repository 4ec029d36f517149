/**
 * The v1 device's VM change-state handler (docs/design/vfio-uapi.md §7.6):
 *
 * - VM started: clear SAVING and RESUMING, set RUNNING (a failed source goes back from
 *   pre-copy or stop-and-copy; a destination leaves RESUMING, which makes the device load
 *   its state). A device that refuses (an incomplete image) is reset rather than left in
 *   RESUMING.
 * - VM stopped: clear RUNNING (pre-copy becomes stop-and-copy); stopped for a snapshot
 *   (`save-vm`): clear RUNNING and set SAVING.
 */
import { RunState, type VmChangeStateHandler } from '@savevm/core';
import { V1Transition } from './device-state.js';
import type { V1MigrationRegion } from './migration-region.js';
import { changeV1State, changeV1StateOrReset } from './set-state.js';

/** Whether the VM was running at the last run-state change a device saw (devices start RUNNING). */
export interface VmRunning {
  running: boolean;
}

/** The change-state handler of one v1 device (no P2P state, so only the `change` phase); it keeps `vm` up to date. */
export function createV1RunStateHandler(region: V1MigrationRegion, vm: VmRunning): VmChangeStateHandler {
  return {
    change: (running: boolean, state: RunState): void => {
      vm.running = running;
      if (running) changeV1StateOrReset(region, V1Transition.RUN, 'run-state');
      else changeV1State(region, state === RunState.SAVE_VM ? V1Transition.STOP_FOR_SNAPSHOT : V1Transition.STOP, 'run-state');
    },
  };
}
