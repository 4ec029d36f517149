/**
 * QEMU's `globalstate` section (migration/global_state.c, version 1, minimum 1): the run
 * state the source VM was in, which the destination enters after loading (unless it was
 * started with `-S`). A be32 length (the name's length plus its NUL), then 100 bytes whose
 * layout changed after QEMU 7.2 (docs/design/qemu-versions.md): 7.2 has one `runstate[100]`
 * buffer, the name zero-padded; 10.0 has `runstate[32]`, `has_vm_was_suspended` (written
 * as 1), `vm_was_suspended` and `unused[66]`. Both load either (the name ends at its NUL),
 * so loading always reads the 100 bytes as they came; {@link qemuGlobalStateHandlers}
 * writes the layout the migration's `streamCompat` asks for.
 */
import { INSTANCE_ID_ANY, type QemuFileReader, type QemuFileWriter } from '@savevm/stream';
import type { SaveStateRegistry } from '../registry/registry.js';
import type { SaveStateEntry } from '../registry/save-state-entry.js';
import { RunState } from '../run-state/run-state.js';
import { DEFAULT_STREAM_COMPAT, streamCompatRules, type GlobalStateLayout, type StreamCompat } from '../stream-compat.js';
import { defineVmState, type VmStateDescription } from './description.js';
import { vmstateFields } from './fields.js';
import type { VmStateHandlers } from './register.js';
import { loadVmState } from './load.js';
import { saveVmState } from './save.js';
import { forgetSavedVmdesc, recordSavedVmdesc } from './vmdesc-record.js';

/** Size of the run-state buffer. */
export const GLOBALSTATE_RUNSTATE_BYTES = 100;

/** QEMU 10.0's run-state buffer: the name and its NUL fit in 32 bytes. */
export const GLOBALSTATE_RUNSTATE_BYTES_10_0 = 32;
/** Offset of `has_vm_was_suspended` in the 100 bytes (QEMU 10.0's layout). */
const HAS_VM_WAS_SUSPENDED = 32;
/** Offset of `vm_was_suspended` in the 100 bytes (QEMU 10.0's layout). */
const VM_WAS_SUSPENDED = 33;
/** Size of QEMU 10.0's `unused` buffer at the end. */
const UNUSED_BYTES_10_0 = 66;

/** The state behind QEMU's `globalstate` section. */
export interface QemuGlobalState {
  /** The name's length plus its NUL (QEMU's pre-save computes it; so does this description's). */
  size: number;
  /**
   * The 100 bytes after the length, as they are on the wire: the run-state name,
   * NUL-terminated, then zeros — or, as QEMU 10.0 writes them, byte 32 = 1
   * (`has_vm_was_suspended`) and byte 33 = `vm_was_suspended`.
   */
  runstate: Uint8Array;
}

/** QEMU 10.0's view of the same 104 bytes (what {@link qemuGlobalState10VmState} lays out). */
export interface QemuGlobalState10 {
  /** The name's length plus its NUL. */
  size: number;
  /** The run-state name, NUL-terminated, zero-padded to 32 bytes. */
  runstate: Uint8Array;
  /** 1: the next byte says whether the VM was suspended (QEMU 10.0 always writes 1). */
  hasVmWasSuspended: number;
  /** 1 when the guest was suspended (S3) as it stopped. */
  vmWasSuspended: number;
  /** 66 bytes, zero. */
  unused: Uint8Array;
}

const f = vmstateFields<QemuGlobalState>();
const f10 = vmstateFields<QemuGlobalState10>();
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

/**
 * QEMU 10.0's `globalstate` description (same name, version and 104 bytes as 7.2's, other
 * fields): pre-save sets `size` from the 32-byte name; post-load refuses a name that is
 * not one of QEMU's run states.
 */
export const qemuGlobalState10VmState: VmStateDescription<QemuGlobalState10> = defineVmState<QemuGlobalState10>({
  name: 'globalstate',
  version: 1,
  minimumVersion: 1,
  fields: [
    f10.uint32('size'),
    f10.buffer('runstate', GLOBALSTATE_RUNSTATE_BYTES_10_0),
    f10.uint8('hasVmWasSuspended', { name: 'has_vm_was_suspended' }),
    f10.uint8('vmWasSuspended', { name: 'vm_was_suspended' }),
    f10.buffer('unused', UNUSED_BYTES_10_0),
  ],
  preSave(state) {
    const end = state.runstate.indexOf(0);
    if (end < 0) throw new RangeError('the run-state name does not end within 32 bytes');
    state.size = end + 1;
  },
  postLoad(state) {
    const end = state.runstate.indexOf(0);
    const name = Buffer.from(state.runstate.subarray(0, end < 0 ? state.runstate.length : end)).toString('latin1');
    if (!RUN_STATE_NAMES.has(name)) throw new RangeError(`"${name}" is not a run state`);
  },
});

/**
 * Whether the VM was suspended, as a QEMU 10.0 globalstate says; undefined when the bytes
 * do not say (QEMU 7.2's layout: `has_vm_was_suspended` is 0).
 */
export function vmWasSuspendedOf(state: QemuGlobalState): boolean | undefined {
  return state.runstate[HAS_VM_WAS_SUSPENDED] === 1 ? state.runstate[VM_WAS_SUSPENDED] !== 0 : undefined;
}

/**
 * Lays the 100 bytes out as `layout` says, in place (what QEMU's store does before saving):
 * the name zero-padded; for QEMU 10.0, `has_vm_was_suspended` = 1 and `vm_was_suspended`
 * kept (as 0 or 1).
 */
export function normalizeGlobalState(state: QemuGlobalState, layout: GlobalStateLayout): void {
  const area = state.runstate;
  const name = runStateNameOf(state);
  const suspended = vmWasSuspendedOf(state) === true ? 1 : 0;
  area.fill(0, name.length);
  if (layout === 'runstate-32-suspended') {
    if (name.length >= GLOBALSTATE_RUNSTATE_BYTES_10_0) throw new RangeError(`run-state name "${name}" does not fit QEMU 10.0's 32 bytes`);
    area[HAS_VM_WAS_SUSPENDED] = 1;
    area[VM_WAS_SUSPENDED] = suspended;
  }
  state.size = name.length + 1;
}

/** QEMU 10.0's view of `state`: its buffers are views of `state.runstate` (no copy). */
function view10(state: QemuGlobalState): QemuGlobalState10 {
  const area = state.runstate;
  return {
    size: state.size,
    runstate: area.subarray(0, GLOBALSTATE_RUNSTATE_BYTES_10_0),
    hasVmWasSuspended: area[HAS_VM_WAS_SUSPENDED] as number,
    vmWasSuspended: area[VM_WAS_SUSPENDED] as number,
    unused: area.subarray(VM_WAS_SUSPENDED + 1),
  };
}

/** The handlers of a `globalstate` entry that writes the layout of the migration's `streamCompat`. */
export interface QemuGlobalStateHandlers extends VmStateHandlers {
  /** Takes the layout of `compat` for the next saves. */
  applyStreamCompat(compat: StreamCompat): void;
  /** The layout the next save writes. */
  readonly layout: GlobalStateLayout;
}

/**
 * Handlers for `state` as QEMU's `globalstate`: `saveState` writes QEMU 7.2's layout or
 * QEMU 10.0's (as the source's `streamCompat` parameter says, told through
 * `applyStreamCompat`; {@link DEFAULT_STREAM_COMPAT} until then), describing it in the
 * vmdesc as that QEMU does, without changing `state`; `loadState` takes either.
 */
export function qemuGlobalStateHandlers(state: QemuGlobalState): QemuGlobalStateHandlers {
  let layout = streamCompatRules(DEFAULT_STREAM_COMPAT).globalStateLayout;
  const handlers: QemuGlobalStateHandlers = {
    get layout(): GlobalStateLayout {
      return layout;
    },
    applyStreamCompat(compat: StreamCompat): void {
      layout = streamCompatRules(compat).globalStateLayout;
    },
    async saveState(f: QemuFileWriter): Promise<void> {
      forgetSavedVmdesc(handlers);
      // Laid out on a copy: saving leaves the device's state as it was (a failed migration keeps it intact).
      const copy: QemuGlobalState = { size: state.size, runstate: Uint8Array.from(state.runstate) };
      normalizeGlobalState(copy, layout);
      const described =
        layout === 'runstate-100' ? await saveVmState(f, qemuGlobalStateVmState, copy) : await saveVmState(f, qemuGlobalState10VmState, view10(copy));
      recordSavedVmdesc(handlers, described);
    },
    async loadState(f: QemuFileReader, versionId: number): Promise<void> {
      await loadVmState(f, qemuGlobalStateVmState, state, versionId);
    },
  };
  return handlers;
}

/**
 * Registers `state` as QEMU's `globalstate` (instance 0 unless told otherwise) with
 * {@link qemuGlobalStateHandlers}: the layout follows the migration's `streamCompat`.
 */
export function registerQemuGlobalState(registry: SaveStateRegistry, state: QemuGlobalState, options: { readonly instanceId?: number } = {}): SaveStateEntry {
  return registry.register('globalstate', options.instanceId ?? INSTANCE_ID_ANY, qemuGlobalStateVmState.version, qemuGlobalStateHandlers(state), {
    minimumVersionId: qemuGlobalStateVmState.minimumVersion ?? 0,
  });
}
