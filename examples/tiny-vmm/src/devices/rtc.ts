/**
 * The declarative device: a real-time clock whose few registers are described once, field by
 * field, and registered with `registerVmState`. No hooks: core writes and reads the section.
 *
 * Version 2 added the `alarm` register. A destination built with version 1 loads nothing
 * newer than version 1 and refuses a version-2 stream (VERSION_TOO_NEW): the refused mode of
 * this example.
 */
import { type VmStateDescription, defineVmState, vmstateFields } from '@savevm/core';

/** The clock's registers. */
export interface RtcState {
  /** Ticks since the VM started (the guest advances it). */
  ticks: bigint;
  /** The tick period, microseconds. */
  periodUs: number;
  /** Whether the clock counts. */
  enabled: boolean;
  /** The tick at which the alarm fires (0: none); new in version 2. */
  alarm: bigint;
}

/** A clock at reset. */
export function createRtcState(): RtcState {
  return { ticks: 0n, periodUs: 5000, enabled: true, alarm: 0n };
}

const f = vmstateFields<RtcState>();

/** The clock's section, version 2 (the current build of the device). */
export const rtcVmState: VmStateDescription<RtcState> = defineVmState<RtcState>({
  name: 'tiny-rtc',
  version: 2,
  minimumVersion: 1,
  fields: [f.uint64('ticks'), f.uint32('periodUs', { name: 'period_us' }), f.bool('enabled'), f.uint64('alarm', { since: 2 })],
});

/** The same section as an older build of the device wrote it: version 1, no alarm. */
export const rtcVmStateV1: VmStateDescription<RtcState> = defineVmState<RtcState>({
  name: 'tiny-rtc',
  version: 1,
  fields: [f.uint64('ticks'), f.uint32('periodUs', { name: 'period_us' }), f.bool('enabled')],
});
