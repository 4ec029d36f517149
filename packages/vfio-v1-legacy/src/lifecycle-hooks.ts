/**
 * The v1 device's VM change-state handler and migration-status hook (docs/design/vfio-uapi.md §7.6):
 *
 * - VM started: clear SAVING and RESUMING, set RUNNING (a failed source goes back from
 *   pre-copy or stop-and-copy; a destination leaves RESUMING, which makes the device load
 *   its state). A device that refuses (an incomplete image) is reset rather than left in
 *   RESUMING.
 * - VM stopped: clear RUNNING (pre-copy becomes stop-and-copy); stopped for a snapshot
 *   (`save-vm`): clear RUNNING and set SAVING.
 * - Migration failed or cancelled: clear SAVING and RESUMING; RUNNING again if the VM runs.
 *   (QEMU 7.x set RUNNING even for a paused VM; here the device follows the VM.)
 */
import { type MigrationEvent, type MigrationNotifier, RunState, type VmChangeStateHandler } from '@savevm/core';
import { V1State } from '@savevm/vfio';
import { V1Transition } from './device-state.js';
import type { V1MigrationRegion } from './migration-region.js';
import { changeV1State, changeV1StateOrReset } from './set-state.js';

/** The run-state and migration-status hooks of one v1 device. */
export class VfioV1LifecycleHooks {
  /** Whether the VM was running at the last change this device saw (devices start RUNNING). */
  #vmRunning = true;

  /** @param region the device's migration region */
  constructor(private readonly region: V1MigrationRegion) {}

  /** Whether the VM was running at the last run-state change this device saw. */
  get vmRunning(): boolean {
    return this.#vmRunning;
  }

  /** The change-state handler to register (v1 has no P2P state, so only the `change` phase). */
  readonly runStateHandler: VmChangeStateHandler = {
    change: (running: boolean, state: RunState): void => {
      this.#vmRunning = running;
      if (running) changeV1StateOrReset(this.region, V1Transition.RUN, 'run-state');
      else changeV1State(this.region, state === RunState.SAVE_VM ? V1Transition.STOP_FOR_SNAPSHOT : V1Transition.STOP, 'run-state');
    },
  };

  /** The migration-status hook to register: puts the device back after a failed or cancelled migration. */
  readonly migrationNotifier: MigrationNotifier = (event: MigrationEvent): void => {
    if (event.type !== 'precopy-failed') return;
    changeV1StateOrReset(this.region, this.#vmRunning ? V1Transition.RUN : { clear: V1State.MASK, set: V1State.STOP }, 'migration-status');
  };
}
