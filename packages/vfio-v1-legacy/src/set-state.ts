/**
 * Changing `device_state` the way QEMU 7.x did (docs/design/vfio-uapi.md §7.6), made safe:
 * read, apply the change keeping the reserved bits, refuse an invalid combination before
 * writing, write; if the write fails, read the state back. Where QEMU aborted (device
 * unreadable or in ERROR), the device is reset (VFIO_DEVICE_RESET, the only way out of
 * ERROR, back to RUNNING) and a typed error says so.
 */
import { isV1ErrorState, isValidV1State } from '@savevm/vfio';
import { applyV1Change, describeV1State, type V1StateChange } from './device-state.js';
import { VfioV1Error, type V1Phase } from './errors.js';
import type { V1MigrationRegion } from './migration-region.js';

/**
 * Applies `change` to the device's state and returns the new value.
 * @throws VfioV1Error `invalid-state` (nothing written), `register-io`, `state-refused`
 *   (the device kept a usable state, named in the message) or `device-error` (the device was
 *   in or went into ERROR, or became unreadable, and was reset)
 */
export function changeV1State(region: V1MigrationRegion, change: V1StateChange, phase: V1Phase): number {
  const device = region.deviceName;
  const current = region.readDeviceState(phase);
  if (isV1ErrorState(current)) {
    throw recoverByReset(region, phase, `the device is in ${describeV1State(current)}`);
  }
  const wanted = applyV1Change(current, change);
  if (!isValidV1State(wanted)) {
    throw new VfioV1Error({
      device,
      phase,
      code: 'invalid-state',
      detail: `${describeV1State(wanted)} is not a valid device_state (from ${describeV1State(current)})`,
    });
  }
  if (wanted === current) return current;
  try {
    region.writeDeviceState(wanted, phase);
  } catch (writeError) {
    let now: number;
    try {
      now = region.readDeviceState(phase);
    } catch (readError) {
      throw recoverByReset(region, phase, `writing ${describeV1State(wanted)} failed and device_state is unreadable`, readError);
    }
    if (isV1ErrorState(now)) {
      throw recoverByReset(region, phase, `writing ${describeV1State(wanted)} failed and left the device in ${describeV1State(now)}`, writeError);
    }
    throw new VfioV1Error({
      device,
      phase,
      code: 'state-refused',
      detail: `the device refused ${describeV1State(current)} → ${describeV1State(wanted)} and is in ${describeV1State(now)}`,
      cause: writeError,
    });
  }
  return wanted;
}

/**
 * Like {@link changeV1State}, for the way back to a safe state (VM started, migration
 * failed): when the device refuses the change and keeps a migration state (e.g. a RESUMING
 * device whose image is incomplete refuses RUNNING), it is reset rather than left there.
 * @throws VfioV1Error as `changeV1State`; a refusal becomes `device-error` after the reset
 */
export function changeV1StateOrReset(region: V1MigrationRegion, change: V1StateChange, phase: V1Phase): number {
  try {
    return changeV1State(region, change, phase);
  } catch (error) {
    if (!(error instanceof VfioV1Error) || error.code !== 'state-refused') throw error;
    throw recoverByReset(region, phase, error.detail, error.cause);
  }
}

/** Resets the device and returns the `device-error` to throw, saying whether the reset worked. */
function recoverByReset(region: V1MigrationRegion, phase: V1Phase, what: string, cause?: unknown): VfioV1Error {
  let outcome: string;
  try {
    region.device.reset();
    outcome = 'the device was reset to running (its unsaved state may be lost)';
  } catch (resetError) {
    outcome = `resetting it failed too (${resetError instanceof Error ? resetError.message : String(resetError)})`;
  }
  return new VfioV1Error({
    device: region.deviceName,
    phase,
    code: 'device-error',
    detail: `${what}; ${outcome}`,
    ...(cause !== undefined && { cause }),
  });
}
