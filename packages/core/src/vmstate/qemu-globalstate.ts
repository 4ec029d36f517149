/**
 * QEMU's `globalstate` section (migration/global_state.c, version 1, minimum 1): the run
 * state the source VM was in, which the destination enters after loading (unless it was
 * started with `-S`). A be32 length (the name's length plus its NUL), then a 100-byte
 * buffer holding the NUL-terminated name, zero-padded.
 */
import { RunState } from '../run-state/run-state.js';
import { defineVmState, type VmStateDescription } from './description.js';
import { vmstateFields } from './fields.js';

/** Size of the run-state buffer. */
export const GLOBALSTATE_RUNSTATE_BYTES = 100;

/** The state behind QEMU's `globalstate` section. */
export interface QemuGlobalState {
  /** The name's length plus its NUL (QEMU's pre-save computes it; so does this description's). */
  size: number;
  /** The run-state name, NUL-terminated, zero-padded to 100 bytes. */
  runstate: Uint8Array;
}

const f = vmstateFields<QemuGlobalState>();
const RUN_STATE_NAMES: ReadonlySet<string> = new Set(Object.values(RunState));

/** The run-state name a globalstate carries (up to its first NUL). */
export function runStateNameOf(state: QemuGlobalState): string {
  const end = state.runstate.indexOf(0);
  return Buffer.from(state.runstate.subarray(0, end < 0 ? state.runstate.length : end)).toString('latin1');
}

/** The run state a globalstate carries, or undefined when the name is not one of QEMU's. */
export function runStateOf(state: QemuGlobalState): RunState | undefined {
  const name = runStateNameOf(state);
  return RUN_STATE_NAMES.has(name) ? (name as RunState) : undefined;
}

/** A globalstate carrying `runState`. */
export function createQemuGlobalState(runState: RunState): QemuGlobalState {
  const runstate = new Uint8Array(GLOBALSTATE_RUNSTATE_BYTES);
  runstate.set(Buffer.from(runState, 'latin1'));
  return { size: runState.length + 1, runstate };
}

/**
 * QEMU's `globalstate` description. Pre-save sets `size` from the name; post-load
 * refuses a name that is not one of QEMU's run states, as QEMU does.
 */
export const qemuGlobalStateVmState: VmStateDescription<QemuGlobalState> = defineVmState<QemuGlobalState>({
  name: 'globalstate',
  version: 1,
  minimumVersion: 1,
  fields: [f.uint32('size'), f.buffer('runstate', GLOBALSTATE_RUNSTATE_BYTES)],
  preSave(state) {
    state.size = runStateNameOf(state).length + 1;
  },
  postLoad(state) {
    if (runStateOf(state) === undefined) throw new RangeError(`"${runStateNameOf(state)}" is not a run state`);
  },
});
