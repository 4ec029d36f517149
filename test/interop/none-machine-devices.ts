/**
 * The save-state entries of QEMU's `-machine none` (7.2 and 10.0) as savevm registers them:
 * the declarative `timer` and the compat-aware `globalstate` from `@savevm/core`, and — for
 * streams QEMU writes — a `ram` entry that reads QEMU's RAM section of a machine without RAM.
 */
import { decodeRamBody } from '@savevm/inspect';
import {
  RunState,
  createQemuGlobalState,
  createQemuTimerState,
  qemuTimerVmState,
  registerQemuGlobalState,
  vmStateHandlers,
  type QemuGlobalState,
  type QemuTimerState,
  type SaveStateRegistry,
  type SaveVMHandlers,
} from '@savevm/core';

/** The version of QEMU's `ram` section (4 in 7.2 and 10.0). */
export const QEMU_RAM_VERSION = 4;

/**
 * A `ram` entry for the destination: each START, PART and END body is read record by
 * record up to its EOS (QEMU's `-machine none` announces 0 bytes of RAM and sends no page).
 */
export const ramSectionReader: SaveVMHandlers = {
  async loadState(f) {
    const body = await decodeRamBody(f);
    if (body.pages + body.zeroPages > 0) throw new Error(`${body.pages + body.zeroPages} RAM pages arrived for a machine without RAM`);
  },
};

/** The state objects behind the registered `-machine none` entries. */
export interface NoneMachineState {
  /** Behind the `timer` entry. */
  readonly timer: QemuTimerState;
  /** Behind the `globalstate` entry. */
  readonly global: QemuGlobalState;
}

/** How to register the `-machine none` entries. */
export interface NoneMachineOptions {
  /** Register the `ram` reader too (a destination of QEMU's own streams needs it). */
  readonly ram?: boolean;
  /** The `timer` entry's version (QEMU's is 2; a lower one refuses QEMU's section). */
  readonly timerVersion?: number;
  /** The run state the `globalstate` entry carries (default running). */
  readonly runState?: RunState;
}

/**
 * Registers `timer`, (optionally) `ram` and `globalstate` in `registry`, in QEMU's order,
 * and returns the states they save from and load into.
 */
export function registerNoneMachine(registry: SaveStateRegistry, options: NoneMachineOptions = {}): NoneMachineState {
  const timer = createQemuTimerState(123_456_789n, -42n);
  const global = createQemuGlobalState(options.runState ?? RunState.RUNNING);
  const timerVersion = options.timerVersion ?? qemuTimerVmState.version;
  // The version is the entry's (what the destination accepts), not the description's.
  registry.register('timer', 0, timerVersion, vmStateHandlers(qemuTimerVmState, timer), { minimumVersionId: Math.min(timerVersion, 1) });
  if (options.ram === true) registry.register('ram', 0, QEMU_RAM_VERSION, ramSectionReader);
  registerQemuGlobalState(registry, global, { instanceId: 0 });
  return { timer, global };
}
