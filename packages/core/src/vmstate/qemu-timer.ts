/**
 * QEMU's `timer` section (softmmu/cpu-timers.c, version 2, minimum 1): the CPU tick and
 * clock offsets, with 8 unused bytes between them. Described here so a TypeScript VMM can
 * send it to QEMU, and as a worked example of a real description.
 */
import { defineVmState, type VmStateDescription, type VmStateSubsection } from './description.js';
import { vmstateFields } from './fields.js';

/** The state behind QEMU's `timer` section (QEMU's `TimersState`, the migrated part). */
export interface QemuTimerState {
  /** `cpu_ticks_offset`: added to the host tick counter to give the guest's. */
  cpuTicksOffset: bigint;
  /** `cpu_clock_offset` (from version 2): added to the host clock to give the guest's. */
  cpuClockOffset: bigint;
  /** Whether instruction counting is on; decides whether `timer/icount` is sent. */
  icountEnabled: boolean;
  /** `qemu_icount_bias` (subsection `timer/icount`). */
  icountBias: bigint;
  /** `qemu_icount` (subsection `timer/icount`). */
  icount: bigint;
}

const f = vmstateFields<QemuTimerState>();

/**
 * QEMU's `timer/icount` subsection (version 1), sent only when icount is on. QEMU nests
 * three more subsections in it (warp timer, adjust timers, shift) that this description
 * does not know, so a stream carrying them is refused as an unknown subsection.
 */
export const qemuTimerIcountVmState: VmStateSubsection<QemuTimerState> = {
  name: 'timer/icount',
  version: 1,
  minimumVersion: 1,
  fields: [f.int64('icountBias', { name: 'qemu_icount_bias' }), f.int64('icount', { name: 'qemu_icount' })],
  needed: (state) => state.icountEnabled,
};

/** QEMU's `timer` description (version 2, minimum 1): 24 bytes when icount is off. */
export const qemuTimerVmState: VmStateDescription<QemuTimerState> = defineVmState<QemuTimerState>({
  name: 'timer',
  version: 2,
  minimumVersion: 1,
  fields: [
    f.int64('cpuTicksOffset', { name: 'cpu_ticks_offset' }),
    f.unused(8),
    f.int64('cpuClockOffset', { name: 'cpu_clock_offset', since: 2 }),
  ],
  subsections: [qemuTimerIcountVmState],
});

/** A timer state with the given offsets and icount off. */
export function createQemuTimerState(cpuTicksOffset = 0n, cpuClockOffset = 0n): QemuTimerState {
  return { cpuTicksOffset, cpuClockOffset, icountEnabled: false, icountBias: 0n, icount: 0n };
}
