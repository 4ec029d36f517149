/**
 * QEMU 9.1's VFIO_MIGRATION events (`migrationEvents: true`): the device states of whole
 * migrations on both sides, in order, against the order QEMU sends them (each list is
 * written as QEMU's and savevm's differences are named), the recover and reset states, and
 * no event without the option or after detach.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMigrationSession } from '@savevm/session';
import { DEVICE_EVENTS, type DeviceEvent, type DeviceEvents, MigrationError } from '@savevm/core';
import { MigState } from '@savevm/vfio';
import { createEmulatedDevice } from '@savevm/vfio/emulated';
import {
  VFIO_MIGRATION_EVENT,
  isVfioMigrationEvent,
  vfioV2ContainerModule,
  type VfioMigrationEvent,
  type VfioV2Options,
} from '../src/index.js';
import { vfioMigrationStateName } from '../src/migration-events.js';
import { E } from './helpers/faults.js';
import { ALL_FLAGS, STOP_COPY_ONLY, Vm, loadFromMemory, makePair, saveToMemory } from './helpers/vm.js';

const EVENTS: VfioV2Options = { migrationEvents: true };

/** Every device event of a VM from now on, as `device-state` names. */
function record(vm: Vm): { readonly all: DeviceEvent[]; states(): string[] } {
  const all: DeviceEvent[] = [];
  vm.container.get<DeviceEvents>(DEVICE_EVENTS).events$.subscribe((e) => all.push(e));
  return { all, states: () => all.filter(isVfioMigrationEvent).map((e) => e.data['device-state']) };
}

async function failure(run: Promise<unknown>): Promise<MigrationError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

describe('VFIO_MIGRATION events through a whole migration', () => {
  it('P2P and pre-copy: source pre-copy, pre-copy-p2p, stop-copy, stop; destination resuming, stop, running-p2p, running', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS, dirtyPagesPerRead: 1 }], EVENTS);
    const source = record(src);
    const destination = record(dst);
    const bytes = (await saveToMemory(src)).bytes;
    // QEMU 9.1+: save_setup RUNNING→PRE_COPY; VM stop: prepare →PRE_COPY_P2P, change →STOP_COPY;
    // complete_precopy finds it in STOP_COPY (no event); save_cleanup STOP_COPY→STOP.
    expect(source.states()).toEqual(['pre-copy', 'pre-copy-p2p', 'stop-copy', 'stop']);
    await loadFromMemory(dst, bytes);
    // QEMU: load_setup →RESUMING; VM start: prepare →RUNNING_P2P, change →RUNNING. savevm
    // also leaves RESUMING for STOP when the load ends, the kernel's verdict on the state.
    expect(destination.states()).toEqual(['resuming', 'stop', 'running-p2p', 'running']);
    const name = src.devices[0]!.emulated.device.name;
    expect(source.all[0]).toEqual({
      event: VFIO_MIGRATION_EVENT,
      device: name,
      data: { 'device-id': name, 'qom-path': name, 'device-state': 'pre-copy' },
    });
    src.close();
    dst.close();
  });

  it('STOP_COPY only (QEMU 8.0 devices): source stop, stop-copy, stop; destination resuming, stop, running', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY }], { ...EVENTS, preCopy: false });
    const source = record(src);
    const destination = record(dst);
    await loadFromMemory(dst, (await saveToMemory(src)).bytes);
    // QEMU: VM stop RUNNING→STOP; complete_precopy STOP→STOP_COPY; save_cleanup →STOP.
    expect(source.states()).toEqual(['stop', 'stop-copy', 'stop']);
    // QEMU: resuming, running (RESUMING→RUNNING at VM start); savevm's STOP in between.
    expect(destination.states()).toEqual(['resuming', 'stop', 'running']);
    src.close();
    dst.close();
  });

  it('a failure after the VM stopped: stop-copy, then the restart running-p2p, running', async () => {
    const vm = new Vm(EVENTS);
    const d = await vm.addDevice(0, { flags: ALL_FLAGS, stateSize: 256 * 1024 }, 1);
    const events = record(vm);
    d.emulated.model.failDataRead({ afterBytes: 100_000, errno: E.EIO });
    const error = await failure(saveToMemory(vm, { maxIterations: 1, iterationCapPolicy: 'switchover', availSwitchoverBandwidth: 0, downtimeLimitMs: 0 }));
    expect(error.phase).toBe('complete-precopy');
    // QEMU: the VM restarts (prepare STOP_COPY→RUNNING_P2P, change →RUNNING) before cleanup,
    // which then finds the device out of STOP_COPY; the PRECOPY_FAILED notifier finds it RUNNING.
    expect(events.states()).toEqual(['pre-copy', 'pre-copy-p2p', 'stop-copy', 'running-p2p', 'running']);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
  });

  it('a failure while pre-copying: pre-copy, then running from the migration-status hook (the VM never stopped)', async () => {
    const vm = new Vm(EVENTS);
    const d = await vm.addDevice(0, { flags: ALL_FLAGS, stateSize: 256 * 1024 }, 1);
    const events = record(vm);
    d.emulated.model.failDataRead({ afterBytes: 10, errno: E.EIO });
    expect((await failure(saveToMemory(vm))).phase).toBe('iterate');
    // QEMU: save_setup →PRE_COPY; the PRECOPY_FAILED notifier →RUNNING.
    expect(events.states()).toEqual(['pre-copy', 'running']);
    vm.close();
  });

  it('a failed SET reports the recover state even when the device was already in it, as QEMU does', async () => {
    const vm = new Vm(EVENTS);
    const d = await vm.addDevice(0, { flags: ALL_FLAGS }, 1);
    const events = record(vm);
    d.emulated.model.failArc({ from: MigState.RUNNING, to: MigState.PRE_COPY, errno: E.EINVAL, times: 1 });
    await failure(saveToMemory(vm));
    // save_setup's RUNNING→PRE_COPY fails, recover RUNNING: "running"; the notifier's RUNNING is a no-op.
    expect(events.states()).toEqual(['running']);
    vm.close();
  });

  it('a failed SET whose reset fails too: error (QEMU stops the process there; savevm says so)', async () => {
    const vm = new Vm(EVENTS);
    const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1);
    const seen: MigState[] = [];
    d.migration.state.stateChanges$.subscribe((s) => seen.push(s));
    const events = record(vm);
    d.emulated.model.failArc({ from: MigState.RUNNING, to: MigState.STOP, errno: E.EIO, leaveIn: MigState.ERROR });
    d.emulated.model.failReset(E.EIO);
    expect(() => d.migration.state.setStateOrReset(MigState.STOP)).toThrow();
    expect(seen).toEqual([MigState.ERROR]);
    expect(events.states()).toEqual(['error']);
    vm.close();
  });

  it('without migrationEvents (QEMU: migration-events=off, the default) no event, though the device still reports its states', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS }]);
    const events = record(src);
    const seen: string[] = [];
    src.devices[0]!.migration.state.stateChanges$.subscribe((s) => seen.push(vfioMigrationStateName(s)));
    await saveToMemory(src);
    expect(events.all).toEqual([]);
    expect(seen).toEqual(['pre-copy', 'pre-copy-p2p', 'stop-copy', 'stop']);
    src.close();
    dst.close();
  });

  it('after detach the device sends no more events', async () => {
    const vm = new Vm(EVENTS);
    const d = await vm.addDevice(0, { flags: ALL_FLAGS }, 1);
    const events = record(vm);
    d.migration.state.setStateOrReset(MigState.RUNNING_P2P);
    d.attached.detach();
    d.migration.state.setStateOrReset(MigState.RUNNING);
    expect(events.states()).toEqual(['running-p2p']);
    vm.close();
  });

  it("on the session: MigrationSession.deviceEvents$ carries them under the device's attach name", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'savevm-events-'));
    try {
      const vm = await createMigrationSession({ providers: [vfioV2ContainerModule({ migrationEvents: true })] });
      const { device } = createEmulatedDevice({ name: '0000:00:07.0', protocol: 'v2', stateSize: 64 * 1024 });
      await vm.attach(device, 'gpu0');
      const seen: VfioMigrationEvent[] = [];
      vm.deviceEvents$.subscribe((e) => {
        if (isVfioMigrationEvent(e)) seen.push(e);
      });
      await vm.runState.start();
      await vm.migrate(`file:${join(dir, 'snap')}`);
      expect(seen.map((e) => e.data['device-state'])).toEqual(['running-p2p', 'running', 'pre-copy', 'pre-copy-p2p', 'stop-copy', 'stop']);
      expect(new Set(seen.map((e) => `${e.device} ${e.data['device-id']} ${e.data['qom-path']}`))).toEqual(new Set(['gpu0 gpu0 0000:00:07.0']));
      device.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
