/**
 * The device's VM change-state handler (QEMU `vfio_vmstate_change` and, with P2P,
 * `vfio_vmstate_change_prepare`): the device follows the VM — RUNNING when it runs, STOP
 * (or STOP_COPY from pre-copy when stopping for migration) when it stops. With P2P, the
 * prepare phase moves every device to RUNNING_P2P / PRE_COPY_P2P before any device stops or
 * starts. Failures reset the device (recover ERROR) and are thrown, so the core fails the
 * switchover or the VM start naming the device.
 */
import { RunState, type VmChangeStateHandler } from '@savevm/core';
import { MigState, migStateName } from '@savevm/vfio';
import { VfioV2MigrationError } from './errors.js';
import type { DeviceMigrationState } from './migration-state.js';
import { traceVfio } from './tracing.js';

function refuseWhileResuming(state: DeviceMigrationState, running: boolean): void {
  if (state.state !== MigState.RESUMING) return;
  throw new VfioV2MigrationError({
    device: state.name,
    phase: running ? 'load-start-vm' : 'switchover',
    operation: `${running ? 'start' : 'stop'} with the device still RESUMING`,
    errno: 'EINVAL',
    detail: `vfio device ${state.name}: the device is still RESUMING (its loaded state was not accepted); not ${running ? 'starting' : 'stopping'} it`,
  });
}

function move(state: DeviceMigrationState, target: MigState, running: boolean): void {
  const from = state.state;
  try {
    state.setStateOrReset(target);
  } catch (cause) {
    throw new VfioV2MigrationError({
      device: state.name,
      phase: running ? 'restart' : 'switchover',
      operation: `${migStateName(from)}→${migStateName(target)}`,
      cause,
    });
  }
}

/** Creates the change-state handler of one device; `prepare` exists only when it supports P2P. */
export function createRunStateHandler(state: DeviceMigrationState): VmChangeStateHandler {
  const change = (running: boolean, reason: string): void => {
    refuseWhileResuming(state, running);
    let target: MigState;
    if (running) target = MigState.RUNNING;
    else if (state.inPreCopy && (reason === RunState.FINISH_MIGRATE || reason === RunState.PAUSED)) target = MigState.STOP_COPY;
    else target = MigState.STOP;
    move(state, target, running);
    traceVfio('vfio_vmstate_change', { device: state.name, running, reason, deviceState: migStateName(state.state) });
  };
  if (!state.supportsP2P) return { change };
  return {
    prepare: (running: boolean, reason: string): void => {
      refuseWhileResuming(state, running);
      const target = state.state === MigState.PRE_COPY ? MigState.PRE_COPY_P2P : MigState.RUNNING_P2P;
      move(state, target, running);
      traceVfio('vfio_vmstate_change_prepare', { device: state.name, running, reason, deviceState: migStateName(state.state) });
    },
    change,
  };
}
