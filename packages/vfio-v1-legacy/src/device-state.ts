/**
 * The v1 `device_state` bit values, the changes the handlers make to them, and their names
 * for messages (docs/design/vfio-uapi.md §7.3).
 */
import { V1State, isV1ErrorState, isValidV1State } from '@savevm/vfio';

/**
 * A change to the low three bits of `device_state`: clear `clear`, then set `set`. The
 * reserved upper bits are always kept (read-modify-write).
 */
export interface V1StateChange {
  /** Bits to clear (within `V1State.MASK`). */
  readonly clear: number;
  /** Bits to set (within `V1State.MASK`). */
  readonly set: number;
}

/** The changes the v1 handlers make, named by when they happen. */
export interface V1Transitions {
  /** `saveSetup`: add SAVING, keep RUNNING (pre-copy; stop-and-copy when the VM is paused). */
  readonly START_SAVING: V1StateChange;
  /** `saveLiveCompletePrecopy`: stop-and-copy. */
  readonly STOP_AND_COPY: V1StateChange;
  /** After the last stop-and-copy chunk: clear SAVING, giving STOP. */
  readonly FINISH_SAVING: V1StateChange;
  /** `loadSetup`: RESUMING alone. */
  readonly START_RESUMING: V1StateChange;
  /** VM started, or a migration failed or was cancelled: clear SAVING and RESUMING, set RUNNING. */
  readonly RUN: V1StateChange;
  /** VM stopped: clear RUNNING (pre-copy becomes stop-and-copy). */
  readonly STOP: V1StateChange;
  /** VM stopped for a snapshot (`save-vm`): clear RUNNING, set SAVING. */
  readonly STOP_FOR_SNAPSHOT: V1StateChange;
}

/** The changes the v1 handlers make, as QEMU 7.x made them (see {@link V1Transitions}). */
export const V1Transition: V1Transitions = Object.freeze({
  START_SAVING: { clear: 0, set: V1State.SAVING },
  STOP_AND_COPY: { clear: V1State.RUNNING, set: V1State.SAVING },
  FINISH_SAVING: { clear: V1State.SAVING, set: 0 },
  START_RESUMING: { clear: V1State.MASK, set: V1State.RESUMING },
  RUN: { clear: V1State.MASK, set: V1State.RUNNING },
  STOP: { clear: V1State.RUNNING, set: 0 },
  STOP_FOR_SNAPSHOT: { clear: V1State.RUNNING, set: V1State.SAVING },
});

/** Applies a change to a `device_state` value, keeping the reserved upper bits. */
export function applyV1Change(current: number, change: V1StateChange): number {
  const clear = change.clear & V1State.MASK;
  const set = change.set & V1State.MASK;
  return ((current & ~clear) | set) >>> 0;
}

const NAMES: Readonly<Record<number, string>> = {
  0: 'stop',
  1: 'running',
  2: 'stop-and-copy',
  3: 'pre-copy',
  4: 'resuming',
  6: 'error',
};

/** A `device_state` value for messages, e.g. `pre-copy (0x3)` or `invalid (0x5)`. */
export function describeV1State(value: number): string {
  const low = value & V1State.MASK;
  const name = isV1ErrorState(value) ? 'error' : isValidV1State(value) ? (NAMES[low] ?? 'unknown') : 'invalid';
  return `${name} (0x${(value >>> 0).toString(16)})`;
}
