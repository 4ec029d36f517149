import { describe, expect, it } from 'vitest';
import { MigrationError, RunState, isMigrationErrorReason } from '@savevm/core';
import { ByteArrayWriter, MemoryReadChannel, QemuFileReader, writeSectionFull } from '@savevm/stream';
import { Errno, V1State } from '@savevm/vfio';
import { createEmulatedDevice } from '@savevm/vfio/emulated';
import { V1MigrationRegion, VfioV1Error, VfioV1Provider } from '../src/index.js';
import { V1Transition } from '../src/device-state.js';
import { requireMigrationRegion } from '../src/discovery.js';
import { changeV1State } from '../src/set-state.js';
import { FaultyV1Device } from './helpers/faulty-device.js';
import { LIVE, World, loadFromMemory, saveToMemory, snapshot, v1Device } from './helpers/world.js';

/** The VfioV1Error behind a migration failure. */
function v1Cause(error: unknown): VfioV1Error {
  expect(error).toBeInstanceOf(MigrationError);
  const cause = (error as MigrationError).cause;
  expect(cause).toBeInstanceOf(VfioV1Error);
  return cause as VfioV1Error;
}

/** Migrates a world holding one device and returns the rejection. */
async function failingMigration(world: World): Promise<MigrationError> {
  const error = await saveToMemory(world, LIVE).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationError);
  expect(isMigrationErrorReason((error as MigrationError).reason)).toBe(true);
  return error as MigrationError;
}

describe('the error type', () => {
  it('is a MigrationError built as vfio-v2\'s: the migration phase v1Phase stands for, a reason, the errno name', () => {
    const refused = new VfioV1Error({ device: 'dev', phase: 'complete', code: 'pending-not-draining', detail: 'pending_bytes grew' });
    expect(refused).toBeInstanceOf(MigrationError);
    expect(refused).toMatchObject({ phase: 'complete-precopy', v1Phase: 'complete', reason: 'DEVICE_FAILED', errno: 'EIO', device: 'dev' });
    expect(refused.message).toBe('migration failed in complete-precopy: vfio-v1 dev: complete: pending_bytes grew');
    const bad = new VfioV1Error({ device: 'dev', phase: 'load', code: 'bad-stream', detail: 'unknown tag' });
    expect(bad).toMatchObject({ phase: 'load-state', reason: 'BAD_STREAM', errno: 'EINVAL' });
    expect(new VfioV1Error({ device: 'dev', phase: 'discovery', code: 'region-missing', detail: 'no region' })).toMatchObject({ phase: 'register', errno: 'ENOTTY' });
  });
});

describe('discovery errors', () => {
  it('a device without the region: probe refuses with "no v1 migration region", create throws region-missing', () => {
    const provider = new VfioV1Provider();
    for (const protocol of ['v2', 'none'] as const) {
      const { device } = createEmulatedDevice({ protocol });
      expect(provider.probe(device)).toEqual({ accepted: false, reason: 'no v1 migration region' });
      expect(() => provider.create(device)).toThrow(expect.objectContaining({ code: 'region-missing', v1Phase: 'discovery' }));
    }
  });

  it('a zero-sized region: probe refuses with "migration region has zero size", create throws region-too-small', () => {
    const faulty = new FaultyV1Device(v1Device().device);
    faulty.regionSize = 0;
    const provider = new VfioV1Provider();
    expect(provider.probe(faulty)).toEqual({ accepted: false, reason: 'migration region has zero size' });
    expect(() => requireMigrationRegion(faulty)).toThrow(VfioV1Error);
    expect(() => provider.create(faulty)).toThrow(expect.objectContaining({ code: 'region-too-small' }));
  });

  it('a region no larger than its header is refused too', () => {
    const faulty = new FaultyV1Device(v1Device().device);
    faulty.regionSize = 32;
    expect(new VfioV1Provider().probe(faulty).accepted).toBe(false);
  });

  it('a probe whose region lookup fails gives the reason instead of throwing', () => {
    const { device } = v1Device();
    device.close();
    const verdict = new VfioV1Provider().probe(device);
    expect(verdict.accepted).toBe(false);
    expect(verdict.reason).toMatch(/looking for the v1 migration region failed/);
  });
});

describe('set-state', () => {
  it('refuses an invalid bit combination before writing anything', () => {
    const { device, model } = v1Device();
    const region = new V1MigrationRegion(device, requireMigrationRegion(device));
    for (const set of [V1State.RESUMING, V1State.RESUMING | V1State.SAVING]) {
      const error = (() => {
        try {
          changeV1State(region, { clear: 0, set }, 'save-setup');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(VfioV1Error);
      expect(error).toMatchObject({ code: 'invalid-state', device: device.name, errno: 'EINVAL' });
    }
    expect(model.arcLog).toEqual([]);
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('keeps the reserved upper bits (read-modify-write)', () => {
    const { device, model } = v1Device();
    const region = new V1MigrationRegion(device, requireMigrationRegion(device));
    region.writeDeviceState(0x100 | V1State.RUNNING, 'save-setup');
    expect(changeV1State(region, V1Transition.START_SAVING, 'save-setup')).toBe(0x100 | V1State.RUNNING | V1State.SAVING);
    expect(model.v1State).toBe(0x100 | 3);
  });

  it('a refused change names the device, both states and the errno; the device stays usable', () => {
    const { device, model } = v1Device();
    model.failArc({ from: V1State.RUNNING, to: V1State.RUNNING | V1State.SAVING, errno: Errno.EBUSY });
    const region = new V1MigrationRegion(device, requireMigrationRegion(device));
    expect(() => changeV1State(region, V1Transition.START_SAVING, 'save-setup')).toThrow(
      expect.objectContaining({ code: 'state-refused', errno: 'EBUSY', message: expect.stringMatching(/running \(0x1\) → pre-copy \(0x3\).*is in running/) }),
    );
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('a change that leaves the device in ERROR resets it (where QEMU 7.x aborted)', () => {
    const { device, model } = v1Device();
    model.failArc({ from: V1State.RUNNING, to: 3, errno: Errno.EIO, leaveIn: V1State.ERROR });
    const region = new V1MigrationRegion(device, requireMigrationRegion(device));
    expect(() => changeV1State(region, V1Transition.START_SAVING, 'save-setup')).toThrow(
      expect.objectContaining({ code: 'device-error', message: expect.stringMatching(/error \(0x6\).*reset to running/) }),
    );
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('an unreadable device_state after a failed write also resets', () => {
    const inner = v1Device();
    const faulty = new FaultyV1Device(inner.device);
    faulty.failRegister({ register: 'device_state', op: 'write' });
    faulty.failRegister({ register: 'device_state', op: 'read', after: 1 });
    const region = new V1MigrationRegion(faulty, requireMigrationRegion(faulty));
    expect(() => changeV1State(region, V1Transition.START_SAVING, 'save-setup')).toThrow(expect.objectContaining({ code: 'device-error' }));
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });
});

describe('save errors leave the source device RUNNING with its state intact', () => {
  it('a register read (data_offset) failing mid-save', async () => {
    const world = new World();
    const { device, model } = v1Device({ name: 'dev' });
    await world.attacher.attach(device, 'dev');
    const before = snapshot(model.stateBytes);
    model.failDataRead({ afterBytes: 20_000, errno: Errno.EIO });
    const error = await failingMigration(world);
    expect(error.phase).toBe('iterate');
    expect(error.entry).toEqual({ idstr: 'dev/vfio', instanceId: 0 });
    expect(error.errno).toBe('EIO');
    const cause = v1Cause(error);
    expect(cause).toMatchObject({ code: 'register-io', v1Phase: 'iterate', device: 'dev' });
    expect(cause.message).toMatch(/reading data_offset failed/);
    expect(model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(model.stateBytes)).toEqual(before);
  });

  it('a pending_bytes read failing', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    faulty.failRegister({ register: 'pending_bytes', op: 'read', after: 3 });
    await world.attacher.attach(faulty, 'dev');
    const error = await failingMigration(world);
    expect(error.phase).toMatch(/^pending-|^iterate$/);
    expect(v1Cause(error)).toMatchObject({ code: 'register-io', errno: 'EIO' });
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('pending_bytes growing while stopped fails at once instead of looping', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    let extra = 0n;
    faulty.rewrite.pending_bytes = (v) => (inner.model.v1State === V1State.SAVING ? v + (extra += 100_000n) : v);
    await world.attacher.attach(faulty, 'dev');
    const error = await failingMigration(world);
    expect(error.phase).toBe('complete-precopy');
    expect(v1Cause(error)).toMatchObject({ code: 'pending-not-draining', v1Phase: 'complete' });
    expect(error.message).toMatch(/pending_bytes grew from \d+ to \d+ while the device was stopped/);
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('pending_bytes that never drains while data keeps coming is bounded', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    const stopped = (): boolean => inner.model.v1State === V1State.SAVING;
    faulty.rewrite.pending_bytes = (v) => (stopped() ? 1000n : v);
    faulty.rewrite.data_size = (v) => (stopped() ? 100n : v);
    await world.attacher.attach(faulty, 'dev');
    const error = await failingMigration(world);
    expect(v1Cause(error)).toMatchObject({ code: 'pending-not-draining' });
    expect(error.message).toMatch(/bytes sent in stop-and-copy, 1000 were pending/);
    expect(faulty.accesses.get('read:data_size')).toBeLessThan(1000);
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('data_size larger than the data section is an error, not an allocation', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    faulty.rewrite.data_size = () => 1n << 40n;
    await world.attacher.attach(faulty, 'dev');
    const error = await failingMigration(world);
    expect(v1Cause(error)).toMatchObject({ code: 'insane-register' });
    expect(error.message).toMatch(/data_size 1099511627776 is larger than the \d+-byte data section/);
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('data_offset outside the region is an error', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    faulty.rewrite.data_offset = () => 8n;
    await world.attacher.attach(faulty, 'dev');
    expect(v1Cause(await failingMigration(world))).toMatchObject({ code: 'insane-register' });
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('pending_bytes beyond 2^53 is refused', async () => {
    const world = new World();
    const inner = v1Device({ name: 'dev' });
    const faulty = new FaultyV1Device(inner.device);
    faulty.rewrite.pending_bytes = () => 1n << 60n;
    await world.attacher.attach(faulty, 'dev');
    const error = await failingMigration(world);
    expect(v1Cause(error)).toMatchObject({ code: 'insane-register' });
    expect(inner.model.v1State).toBe(V1State.RUNNING);
  });

  it('entering pre-copy refused: save-setup fails, device RUNNING', async () => {
    const world = new World();
    const { device, model } = v1Device({ name: 'dev' });
    model.failArc({ from: V1State.RUNNING, to: 3, errno: Errno.EINVAL });
    await world.attacher.attach(device, 'dev');
    const error = await failingMigration(world);
    expect(error.phase).toBe('save-setup');
    expect(v1Cause(error)).toMatchObject({ code: 'state-refused', v1Phase: 'save-setup' });
    expect(model.v1State).toBe(V1State.RUNNING);
  });

  it('the stop arc going to ERROR at switchover: the device is reset and RUNNING again', async () => {
    const world = new World();
    const { device, model } = v1Device({ name: 'dev' });
    model.failArc({ from: 3, to: V1State.SAVING, errno: Errno.EIO, leaveIn: V1State.ERROR });
    await world.attacher.attach(device, 'dev');
    const error = await failingMigration(world);
    expect(error.phase).toBe('switchover');
    expect(error.message).toMatch(/device-error|reset to running/);
    expect(model.v1State).toBe(V1State.RUNNING);
    expect(world.runState.state).toBe(RunState.RUNNING);
  });

  it('with a paused VM, a failure puts the device back to STOP (it follows the VM)', async () => {
    const world = new World();
    const { device, model } = v1Device({ name: 'dev' });
    await world.attacher.attach(device, 'dev');
    await world.runState.stop(RunState.PAUSED);
    model.failDataRead({ afterBytes: 100, errno: Errno.EIO });
    await failingMigration(world);
    expect(model.v1State).toBe(V1State.STOP);
  });
});

describe('load errors reset the destination device', () => {
  async function streamFrom(name: string): Promise<Buffer> {
    const src = new World();
    const { device } = v1Device({ name });
    await src.attacher.attach(device, name);
    return (await saveToMemory(src, LIVE)).bytes;
  }

  it('an unknown tag: bad-stream naming the offset, device RUNNING with its own state', async () => {
    const bytes = await streamFrom('dev');
    // Corrupt the first DATA_STATE tag after the START section.
    const tag = Buffer.from('ffffffffef100004', 'hex');
    const at = bytes.indexOf(tag);
    bytes[at + 7] = 0x09;
    const dst = new World(RunState.INMIGRATE);
    const to = v1Device({ name: 'dev', seed: 5 });
    const own = snapshot(to.model.stateBytes);
    await dst.attacher.attach(to.device, 'dev');
    const error = await loadFromMemory(dst, bytes).then(
      () => undefined,
      (e: unknown) => e as MigrationError,
    );
    expect(error?.phase).toBe('load-state');
    expect(v1Cause(error)).toMatchObject({ code: 'bad-stream', v1Phase: 'load', reason: 'BAD_STREAM' });
    expect(error?.reason).toBe('BAD_STREAM');
    expect(error?.message).toMatch(/unknown tag 0xffffffffef100009 at \d+/);
    expect(to.model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(to.model.stateBytes)).toEqual(own);
  });

  it('the device refusing a chunk (data_size write fails): register-io, device reset', async () => {
    const bytes = await streamFrom('dev');
    const dst = new World(RunState.INMIGRATE);
    const to = v1Device({ name: 'dev', seed: 5 });
    const own = snapshot(to.model.stateBytes);
    to.model.failDataWrite({ afterBytes: 10_000, errno: Errno.EIO });
    await dst.attacher.attach(to.device, 'dev');
    const error = await loadFromMemory(dst, bytes).then(
      () => undefined,
      (e: unknown) => e as MigrationError,
    );
    expect(v1Cause(error)).toMatchObject({ code: 'register-io', v1Phase: 'load', errno: 'EIO' });
    expect(error?.reason).toBe('DEVICE_FAILED');
    expect(error?.message).toMatch(/writing data_size failed/);
    expect(to.model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(to.model.stateBytes)).toEqual(own);
  });

  it('a truncated stream: the device is reset too', async () => {
    const bytes = await streamFrom('dev');
    const dst = new World(RunState.INMIGRATE);
    const to = v1Device({ name: 'dev', seed: 5 });
    await dst.attacher.attach(to.device, 'dev');
    await expect(loadFromMemory(dst, bytes.subarray(0, 40_000))).rejects.toMatchObject({ reason: 'TRUNCATED' });
    expect(to.model.v1State).toBe(V1State.RUNNING);
  });
});

describe('a load that another device failed', () => {
  it('resets a device whose own sections loaded, instead of leaving it in RESUMING', async () => {
    const src = new World();
    const a = v1Device({ name: 'a' });
    await src.attacher.attach(a.device, 'a');
    const bytes = (await saveToMemory(src, LIVE)).bytes;
    // Append a section for a device the destination does not know, before EOF.
    const eof = bytes.length - 1 - 4 - bytes.readUInt32BE(bytes.lastIndexOf(0x06) + 1) - 1;
    const writer = new ByteArrayWriter();
    writeSectionFull(writer, { sectionId: 99, idstr: 'stranger', instanceId: 0, versionId: 1 });
    const stranger = writer.bytes();
    const broken = Buffer.concat([bytes.subarray(0, eof), stranger, bytes.subarray(eof)]);
    const dst = new World(RunState.INMIGRATE);
    const to = v1Device({ name: 'a', seed: 5 });
    const own = snapshot(to.model.stateBytes);
    await dst.attacher.attach(to.device, 'a');
    const error = await loadFromMemory(dst, broken).then(
      () => undefined,
      (e: unknown) => e as MigrationError,
    );
    expect(error?.phase).toBe('load-dispatch');
    expect(error?.reason).toBe('UNKNOWN_SECTION');
    expect(error?.message).toContain("'stranger' 0");
    expect(to.model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(to.model.stateBytes)).toEqual(own);
  });
});

describe('the run-state hook on the destination', () => {
  it('a VM start whose RESUMING → RUNNING the device refuses (incomplete image) resets the device', async () => {
    const { device, model } = v1Device({ name: 'dev', seed: 4 });
    const own = snapshot(model.stateBytes);
    const spec = new VfioV1Provider().create(device);
    const entry = { idstr: 'dev/vfio', instanceId: 0, versionId: 1, sectionId: 0 };
    await spec.handlers.loadSetup?.(new QemuFileReader(new MemoryReadChannel(new Uint8Array(0))), { entry, approveSwitchover: () => undefined });
    expect(model.v1State).toBe(V1State.RESUMING);
    let thrown: unknown;
    try {
      await spec.runStateHandler?.change?.(true, RunState.RUNNING);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 'device-error', v1Phase: 'run-state', message: expect.stringMatching(/refused resuming \(0x4\) → running \(0x1\).*reset to running/) });
    expect(model.v1State).toBe(V1State.RUNNING);
    expect(snapshot(model.stateBytes)).toEqual(own);
  });
});
