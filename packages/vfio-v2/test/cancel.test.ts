/**
 * Cancel in each phase: the migration ends CANCELLED, every source device is RUNNING with its
 * state intact, and every fd the handlers opened is closed.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrationCancelledError } from '@savevm/core';
import { MigState } from '@savevm/vfio';
import { VfioTracePoint, type VfioTracePointName } from '../src/index.js';
import { ALL_FLAGS, MIXED_P2P, STOP_COPY_ONLY, STOP_COPY_P2P, Vm, processFdCount, saveToMemory } from './helpers/vm.js';

const unsubscribers: Array<() => void> = [];
afterEach(() => {
  for (const u of unsubscribers.splice(0)) u();
});

/** Cancels the source the first time `point` fires. */
function cancelOn(vm: Vm, point: VfioTracePointName | string): void {
  let done = false;
  const fn = (): void => {
    if (done) return;
    done = true;
    vm.source.cancel();
  };
  diagnosticsChannel.subscribe(point, fn);
  unsubscribers.push(() => diagnosticsChannel.unsubscribe(point, fn));
}

const PHASES: Array<[string, string]> = [
  ['save setup', VfioTracePoint.vfio_save_setup],
  ['a pre-copy round', VfioTracePoint.vfio_save_iterate],
  ['the P2P prepare phase of switchover', VfioTracePoint.vfio_vmstate_change_prepare],
  ['switchover (device stopped)', VfioTracePoint.vfio_vmstate_change],
  ['the stop-copy drain', VfioTracePoint.vfio_save_block],
  ['the end of stop-copy', VfioTracePoint.vfio_save_complete_precopy],
];

describe('cancel in each phase', () => {
  for (const [phase, point] of PHASES) {
    it(`cancel during ${phase}: CANCELLED, devices RUNNING with state intact, no fd left`, async () => {
      const vm = new Vm(MIXED_P2P);
      await vm.addDevice(0, { flags: ALL_FLAGS, stateSize: 3 * 1024 * 1024 }, 1);
      await vm.addDevice(1, { flags: STOP_COPY_ONLY }, 2);
      await vm.addDevice(2, { flags: STOP_COPY_P2P }, 3);
      const before = vm.devices.map((d) => Buffer.from(d.emulated.model.stateBytes));
      const kernelFds = vm.devices.map((d) => d.emulated.kernel.openFds());
      const fds = processFdCount();
      cancelOn(vm, point);
      const err = await saveToMemory(vm).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MigrationCancelledError);
      expect(vm.source.info.status).toBe('cancelled');
      vm.devices.forEach((d, i) => {
        expect(d.emulated.model.migState).toBe(MigState.RUNNING);
        expect(Buffer.from(d.emulated.model.stateBytes).equals(before[i]!)).toBe(true);
        expect(d.emulated.kernel.openFds()).toEqual(kernelFds[i]);
        expect(d.migration.state.dataFile).toBeUndefined();
      });
      expect(processFdCount()).toBe(fds);
      // And the next migration works.
      const { info } = await saveToMemory(vm);
      expect(info.status).toBe('completed');
      vm.close();
    });
  }
});
