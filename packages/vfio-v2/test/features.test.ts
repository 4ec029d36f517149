/**
 * The QEMU 8.0 items not covered by the error files, and everything beyond 8.0: pre-copy,
 * P2P ordering, switchover-ack, the config-state hook, the provider, registration, traces.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NoHandlerProviderError,
  PROVIDER_SELECTOR,
  RunState,
  coreContainerModule,
  type ProviderSelector,
} from '@savevm/core';
import { MemoryReadChannel, MemoryWriteChannel, QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { MigState, migStateName, type VfioDevice } from '@savevm/vfio';
import { createEmulatedDevice } from '@savevm/vfio/emulated';
import {
  VfioTracePoint,
  VfioV2Provider,
  vfioV2ContainerModule,
  type VfioConfigStateHook,
  type VfioTracePayloads,
  type VfioTracePointName,
} from '../src/index.js';
import { E, failingIoctl } from './helpers/faults.js';
import { bodyShape, vfioSections } from './helpers/stream-layout.js';
import {
  ALL_FLAGS,
  approvalsTo,
  STOP_COPY_ONLY,
  STOP_COPY_P2P,
  STOP_COPY_PRE_COPY,
  Vm,
  loadFromMemory,
  MIXED_P2P,
  makePair,
  migrateOverSocket,
  saveToMemory,
} from './helpers/vm.js';

const MIB = 1024 * 1024;
const unsubscribers: Array<() => void> = [];
afterEach(() => {
  for (const u of unsubscribers.splice(0)) u();
});

/** Records every VFIO trace event (and the core's vm_state_notify) in order. */
function recordTraces(): Array<{ point: string; payload: Record<string, unknown> }> {
  const events: Array<{ point: string; payload: Record<string, unknown> }> = [];
  for (const point of [...Object.values(VfioTracePoint), 'vm_state_notify']) {
    const fn = (payload: unknown): void => {
      events.push({ point, payload: payload as Record<string, unknown> });
    };
    diagnosticsChannel.subscribe(point, fn);
    unsubscribers.push(() => diagnosticsChannel.unsubscribe(point, fn));
  }
  return events;
}

type SetState = VfioTracePayloads['vfio_migration_set_state'];

describe('QEMU 8.0 items', () => {
  it('registration as "<device path>/vfio", instance ANY (→ 0), version 1; the device state kept as the v2 state machine', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY }, { flags: STOP_COPY_P2P }], { ...MIXED_P2P, preCopy: false });
    const entries = src.registry.list();
    expect(entries.map((e) => [e.idstr, e.instanceId, e.versionId])).toEqual([
      ['0000:00:03.0/vfio', 0, 1],
      ['0000:00:04.0/vfio', 0, 1],
    ]);
    await saveToMemory(src);
    for (const d of src.devices) expect(d.migration.state.state).toBe(d.emulated.model.migState);
    expect(src.devices[0]!.emulated.model.arcLog.map(([a, b]) => `${migStateName(a)}→${migStateName(b)}`)).toEqual([
      'RUNNING→STOP',
      'STOP→STOP_COPY',
      'STOP_COPY→STOP',
    ]);
    expect(src.devices[1]!.emulated.model.arcLog.map(([a, b]) => `${migStateName(a)}→${migStateName(b)}`)).toEqual([
      'RUNNING→RUNNING_P2P',
      'RUNNING_P2P→STOP',
      'STOP→STOP_COPY',
      'STOP_COPY→STOP',
    ]);
    src.close();
    dst.close();
  });

  it('the stop-copy size query sizes the data buffer: min(1 MiB, stop-copy size)', async () => {
    const vm = new Vm({ preCopy: false });
    const small = await vm.addDevice(0, { flags: STOP_COPY_ONLY, stateSize: 8 * 1024 }, 1);
    const big = await vm.addDevice(1, { flags: STOP_COPY_ONLY, stateSize: 3 * MIB }, 2);
    const traces = recordTraces();
    const f = new QemuFileWriter(new MemoryWriteChannel());
    const entry = { idstr: 'x', instanceId: 0 };
    small.migration.saver.setup(f, entry);
    big.migration.saver.setup(f, entry);
    expect(small.migration.saver.dataBufferSize).toBe(small.emulated.model.stopCopyLength());
    expect(small.migration.saver.dataBufferSize).toBeLessThan(MIB);
    expect(big.migration.saver.dataBufferSize).toBe(MIB);
    expect(traces.filter((t) => t.point === 'vfio_save_setup').map((t) => t.payload['dataBufferSize'])).toEqual([
      small.emulated.model.stopCopyLength(),
      MIB,
    ]);
    small.migration.saver.cleanup(entry);
    big.migration.saver.cleanup(entry);
    expect(small.migration.saver.dataBufferSize).toBe(0);
    vm.close();
  });

  it('the save-block loop: blocks of at most the buffer size, the last one short, stop on a 0 read', async () => {
    const { src, dst } = await makePair([{ flags: STOP_COPY_ONLY, stateSize: 3 * MIB + 5 }], { preCopy: false });
    const { bytes } = await saveToMemory(src);
    const end = (await vfioSections(bytes)).find((s) => s.type === 'end')!;
    const sizes = end.body.flatMap((b) => (b.tag === 'DATA' ? [b.size] : []));
    expect(sizes.slice(0, -1).every((n) => n === MIB)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(src.devices[0]!.emulated.model.stopCopyLength());
    expect(bodyShape(end).endsWith('END')).toBe(true);
    src.close();
    dst.close();
  });

  it('complete precopy (8.0 mode) goes STOP→STOP_COPY, drains, writes END_OF_STATE, then STOP_COPY→STOP before cleanup; 8.1+ mode does STOP_COPY→STOP in save cleanup', async () => {
    for (const stopCopyExit of ['save-complete', 'save-cleanup'] as const) {
      const vm = new Vm({ preCopy: false, stopCopyExit });
      await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1);
      const traces = recordTraces();
      await saveToMemory(vm);
      const order = traces
        .filter((t) => t.point === 'vfio_save_complete_precopy' || t.point === 'vfio_save_cleanup' || (t.point === 'vfio_migration_set_state' && t.payload['target'] === 'STOP' && t.payload['from'] === 'STOP_COPY'))
        .map((t) => t.point);
      expect(order).toEqual(
        stopCopyExit === 'save-complete'
          ? ['vfio_migration_set_state', 'vfio_save_complete_precopy', 'vfio_save_cleanup']
          : ['vfio_save_complete_precopy', 'vfio_migration_set_state', 'vfio_save_cleanup'],
      );
      expect(vm.devices[0]!.emulated.model.migState).toBe(MigState.STOP);
      unsubscribers.splice(0).forEach((u) => u());
      vm.close();
    }
  });

  it('the run-state handler puts the device in RUNNING or STOP as the VM runs or stops', async () => {
    const vm = new Vm();
    const [a, b] = [await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1), await vm.addDevice(1, { flags: ALL_FLAGS }, 2)];
    await vm.runState.stop(RunState.PAUSED);
    expect([a.emulated.model.migState, b.emulated.model.migState]).toEqual([MigState.STOP, MigState.STOP]);
    await vm.runState.start();
    expect([a.emulated.model.migState, b.emulated.model.migState]).toEqual([MigState.RUNNING, MigState.RUNNING]);
    vm.close();
  });

  it('the migration-status hook puts the device back in RUNNING when a migration fails with the VM paused (no VM restart)', async () => {
    const vm = new Vm({ preCopy: false });
    const d = await vm.addDevice(0, { flags: STOP_COPY_ONLY }, 1);
    await vm.runState.stop(RunState.PAUSED);
    d.emulated.model.failDataRead({ afterBytes: 100, errno: E.EIO });
    const traces = recordTraces();
    await expect(saveToMemory(vm)).rejects.toThrow(/EIO/);
    expect(vm.runState.state).toBe(RunState.PAUSED);
    expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    expect(traces.find((t) => t.point === 'vfio_migration_state_notifier' && t.payload['event'] === 'precopy-failed')).toBeDefined();
    vm.close();
  });

  it('trace points: every event of the patch fires during a migration and a load (vfio_save_setup, vfio_save_block, vfio_state_pending_exact, …)', async () => {
    const hook: VfioConfigStateHook = { save: (f) => f.putBe32(7), load: async (f: QemuFileReader) => void (await f.getBe32()) };
    const { src, dst } = await makePair([{ flags: ALL_FLAGS }], { configState: hook });
    const traces = recordTraces();
    await src.attacher.attach(createEmulatedDevice({ protocol: 'none' }).device, 'not migratable').catch(() => undefined);
    const { bytes } = await saveToMemory(src);
    await loadFromMemory(dst, bytes);
    const fired = new Set(traces.map((t) => t.point));
    const expected: VfioTracePointName[] = Object.keys(VfioTracePoint) as VfioTracePointName[];
    for (const point of expected) expect(fired, point).toContain(point);
    src.close();
    dst.close();
  });
});

describe('beyond QEMU 8.0: PRE_COPY', () => {
  it('setup enters PRE_COPY, PRECOPY_INFO drives the estimate, live iterate reads pre-copy data', async () => {
    const vm = new Vm();
    const d = await vm.addDevice(0, { flags: STOP_COPY_PRE_COPY }, 1);
    const f = new QemuFileWriter(new MemoryWriteChannel());
    const entry = { idstr: d.migration.idstr, instanceId: 0 };
    d.migration.saver.setup(f, entry);
    expect(d.emulated.model.migState).toBe(MigState.PRE_COPY);
    const info = d.emulated.device.getPrecopyInfo(d.migration.state.dataFile!);
    expect(d.migration.saver.pendingEstimate().mustPrecopy).toBe(info.initialBytes + info.dirtyBytes);
    expect(info.initialBytes).toBeGreaterThan(0);
    expect(d.migration.saver.isActiveIterate()).toBe(true);
    let rounds = 0;
    while (!(await d.migration.saver.iterate(f, entry))) rounds++;
    expect(rounds).toBeGreaterThanOrEqual(0);
    expect(d.migration.saver.pendingEstimate().mustPrecopy).toBe(0);
    expect(d.migration.saver.stats.preCopyBytes).toBe(info.initialBytes);
    // The exact figure is the stop-copy size (which includes whatever pre-copy data is unread).
    expect(d.migration.saver.pendingExact().mustPrecopy).toBe(d.emulated.model.stopCopyLength());
    d.migration.saver.cleanup(entry);
    await vm.runState.start();
    vm.close();
  });

  for (const emptyRead of ['ENOMSG', 'zero'] as const) {
    it(`a temporary end of pre-copy answered ${emptyRead === 'zero' ? 'by a 0 read (Linux 6.12 mtty)' : 'with ENOMSG (uAPI)'} is "nothing for now": PART sections with no DATA, then the migration completes`, async () => {
      const { src, dst } = await makePair([{ flags: ALL_FLAGS, preCopyEmptyRead: emptyRead }]);
      // A budget the stop-copy state never fits, so rounds go on after the pre-copy data ran
      // out, until the iteration cap switches over.
      const { bytes, info } = await saveToMemory(src, { availSwitchoverBandwidth: 0, downtimeLimitMs: 0, maxIterations: 5, iterationCapPolicy: 'switchover' });
      expect(info.iterationCapReached).toBe(true);
      const parts = (await vfioSections(bytes)).filter((s) => s.type === 'part');
      expect(parts.some((p) => bodyShape(p) === 'END')).toBe(true);
      await loadFromMemory(dst, bytes);
      expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
      src.close();
      dst.close();
    });
  }

  it('after PRE_COPY_P2P→STOP_COPY the kernel returns data_fd −1: the rest of the state comes on the pre-copy fd', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS, dirtyPagesPerRead: 3 }]);
    const traces = recordTraces();
    const { bytes } = await saveToMemory(src);
    const model = src.devices[0]!.emulated.model;
    const arcs = model.arcLog.map(([a, b]) => `${migStateName(a)}→${migStateName(b)}`);
    expect(arcs).toContain('PRE_COPY_P2P→STOP_COPY');
    expect(arcs).not.toContain('STOP→STOP_COPY');
    const end = (await vfioSections(bytes)).find((s) => s.type === 'end')!;
    expect(end.data.length).toBeGreaterThan(0);
    expect(traces.filter((t) => t.point === 'vfio_migration_set_state' && (t.payload as SetState).outcome !== 'ok')).toHaveLength(0);
    await loadFromMemory(dst, bytes);
    expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(model.stateBytes))).toBe(true);
    src.close();
    dst.close();
  });

  it('pre-copy lowers the bytes sent after the VM stops (measured with and without)', async () => {
    const stopCopyBytes = async (preCopy: boolean): Promise<{ stop: number; pre: number }> => {
      const { src, dst } = await makePair([{ flags: ALL_FLAGS, stateSize: 4 * MIB, dirtyPagesPerRead: 4 }], { preCopy });
      const { bytes } = await saveToMemory(src);
      await loadFromMemory(dst, bytes);
      expect(Buffer.from(dst.devices[0]!.emulated.model.stateBytes).equals(Buffer.from(src.devices[0]!.emulated.model.stateBytes))).toBe(true);
      const stats = { ...src.devices[0]!.migration.saver.stats };
      src.close();
      dst.close();
      return { stop: stats.stopCopyBytes, pre: stats.preCopyBytes };
    };
    const without = await stopCopyBytes(false);
    const withPreCopy = await stopCopyBytes(true);
    expect(without.pre).toBe(0);
    expect(withPreCopy.pre).toBeGreaterThan(4 * MIB);
    expect(withPreCopy.stop).toBeLessThan(without.stop / 10);
  });
});

describe('beyond QEMU 8.0: P2P ordering across devices', () => {
  it('on stop every P2P device reaches RUNNING_P2P / PRE_COPY_P2P before any device goes to STOP / STOP_COPY; on resume every device reaches RUNNING_P2P before any is RUNNING', async () => {
    const vm = new Vm(MIXED_P2P);
    for (const [i, flags] of [ALL_FLAGS, STOP_COPY_P2P, STOP_COPY_ONLY, STOP_COPY_P2P].entries()) await vm.addDevice(i, { flags }, i + 1);
    const traces = recordTraces();
    // A migration: switchover stops the VM.
    await saveToMemory(vm);
    const stopArcs = traces.filter((t) => t.point === 'vfio_migration_set_state').map((t) => t.payload as SetState);
    const lastP2P = Math.max(...stopArcs.map((a, i) => (a.target.endsWith('P2P') ? i : -1)));
    const firstStop = stopArcs.findIndex((a) => a.target === 'STOP' || a.target === 'STOP_COPY');
    expect(stopArcs.filter((a) => a.target.endsWith('P2P'))).toHaveLength(3);
    expect(lastP2P).toBeLessThan(firstStop);
    // Resume: start the VM again (postmigrate → running).
    unsubscribers.splice(0).forEach((u) => u());
    const again = recordTraces();
    await vm.runState.start();
    const startArcs = again.filter((t) => t.point === 'vfio_migration_set_state').map((t) => t.payload as SetState);
    const lastP2PStart = Math.max(...startArcs.map((a, i) => (a.target === 'RUNNING_P2P' ? i : -1)));
    const firstRunning = startArcs.findIndex((a) => a.target === 'RUNNING');
    expect(startArcs.filter((a) => a.target === 'RUNNING_P2P')).toHaveLength(3);
    expect(lastP2PStart).toBeLessThan(firstRunning);
    for (const d of vm.devices) expect(d.emulated.model.migState).toBe(MigState.RUNNING);
    vm.close();
  });
});

describe('beyond QEMU 8.0: switchover-ack', () => {
  it('DEV_INIT_DATA_SENT ends one PART once the initial bytes are drained; the destination approves; the source waits for the ack before stopping the VM', async () => {
    const { src, dst } = await makePair(
      [{ flags: ALL_FLAGS, stateSize: 2 * MIB }, { flags: STOP_COPY_PRE_COPY, preCopyEmptyRead: 'zero' }, { flags: STOP_COPY_ONLY }],
      { ...MIXED_P2P, switchoverAck: true },
    );
    const traces = recordTraces();
    const result = await migrateOverSocket(src, dst, {}, true);
    expect(result.source.status).toBe('completed');
    const initSent = traces.filter((t) => t.point === 'vfio_load_state' && t.payload['tag'] === 0xffffffffef100005n);
    expect(initSent).toHaveLength(2);
    const lastInit = traces.lastIndexOf(initSent[1]!);
    const vmStop = traces.findIndex((t) => t.point === 'vm_state_notify' && t.payload['running'] === false);
    expect(lastInit).toBeLessThan(vmStop);
    for (const [i, d] of dst.devices.entries()) {
      expect(Buffer.from(d.emulated.model.stateBytes).equals(Buffer.from(src.devices[i]!.emulated.model.stateBytes))).toBe(true);
    }
    src.close();
    dst.close();
  });

  it('the stream layout: INIT_DATA_SENT once per pre-copy device, as the end of a PART (after at most one DATA block)', async () => {
    const { src, dst } = await makePair([{ flags: ALL_FLAGS }], { switchoverAck: true });
    const { bytes } = await saveToMemory(src, { switchoverAck: { isAcknowledged: () => true } });
    const parts = (await vfioSections(bytes)).filter((s) => s.type === 'part');
    const withInit = parts.filter((p) => bodyShape(p).endsWith('INIT_DATA_SENT'));
    expect(withInit).toHaveLength(1);
    expect(bodyShape(withInit[0]!)).toMatch(/^(DATA\(\d+\) )?INIT_DATA_SENT$/);
    let approvals = 0;
    await dst.destination.load(new QemuFileReader(new MemoryReadChannel(bytes)), { autostart: true, switchoverAck: true, returnPath: approvalsTo(() => approvals++) });
    expect(approvals).toBe(1);
    src.close();
    dst.close();
  });
});

describe('beyond QEMU 8.0: the VMM-supplied config-state hook', () => {
  it('with a hook: a FULL section DEV_CONFIG_STATE, the hook bytes, END_OF_STATE, loaded by the hook; without one: no FULL section', async () => {
    const config = Buffer.from('pci-config-space-256-bytes'.padEnd(256, '.'));
    let loaded: Buffer | undefined;
    const hook: VfioConfigStateHook = {
      save: (f) => f.putBuffer(config),
      load: async (f) => {
        loaded = await f.getBytes(config.length);
      },
    };
    const { src, dst } = await makePair([{ flags: STOP_COPY_P2P }], { configState: hook });
    const { bytes } = await saveToMemory(src);
    const full = (await vfioSections(bytes, config.length)).filter((s) => s.type === 'full');
    expect(full.map(bodyShape)).toEqual(['CONFIG END']);
    await loadFromMemory(dst, bytes);
    expect(loaded?.equals(config)).toBe(true);
    src.close();
    dst.close();
  });
});

describe('the provider', () => {
  function withFlags(device: VfioDevice, flags: number): VfioDevice {
    return new Proxy(device, {
      get: (t, p, r) => (p === 'getMigrationFlags' ? () => flags : (Reflect.get(t, p, r) as unknown)),
    });
  }

  it('accepts a device with STOP_COPY, names its flags', () => {
    const provider = new VfioV2Provider();
    const { device } = createEmulatedDevice({ protocol: 'v2', migrationFlags: ALL_FLAGS });
    expect(provider.probe(device)).toEqual({ accepted: true, reason: 'VFIO migration v2, flags STOP_COPY|P2P|PRE_COPY' });
  });

  it('refuses ENOTTY (no v2 in this kernel/driver) and flags without STOP_COPY (unsupported), and another errno with its name', () => {
    const provider = new VfioV2Provider();
    const none = createEmulatedDevice({ protocol: 'none' }).device;
    expect(provider.probe(none).accepted).toBe(false);
    expect(provider.probe(none).reason).toMatch(/ENOTTY \(no VFIO migration v2 in this kernel or driver\)/);
    const p2pOnly = withFlags(createEmulatedDevice({ protocol: 'v2' }).device, 2);
    expect(provider.probe(p2pOnly).reason).toMatch(/flags P2P \(0x2\) lack STOP_COPY: unsupported/);
    const einval = failingIoctl(createEmulatedDevice({ protocol: 'v2' }).device, 'getMigrationFlags', E.EINVAL);
    expect(provider.probe(einval).reason).toMatch(/EINVAL/);
  });

  it('through the inversify selector: chosen for a v2 device; a device none accepts gets every reason', async () => {
    const c = new Container();
    c.load(coreContainerModule, vfioV2ContainerModule({ preCopy: true }));
    const selector = c.get<ProviderSelector>(PROVIDER_SELECTOR);
    const v2 = createEmulatedDevice({ protocol: 'v2' }).device;
    expect((await selector.select(v2)).provider.name).toBe('vfio-v2');
    const none = createEmulatedDevice({ protocol: 'none' }).device;
    await expect(selector.select(none, 'mdpy')).rejects.toBeInstanceOf(NoHandlerProviderError);
    await expect(selector.select(none, 'mdpy')).rejects.toThrow(/vfio-v2: .*ENOTTY/);
  });
});

