import { describe, expect, it } from 'vitest';
import { Errno, MigState } from '../src/index.js';
import { createEmulatedDevice } from '../src/emulated/index.js';
import { drain } from './helpers.js';

describe('fault injection', () => {
  it('an arc fails with the given errno; a multi-step SET stops where the failing arc left it', () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    model.failArc({ from: MigState.STOP, to: MigState.STOP_COPY, errno: Errno.EIO });
    expect(() => device.setState(MigState.STOP_COPY)).toThrow(expect.objectContaining({ errno: 'EIO', errnoNumber: Errno.EIO }));
    // RUNNING → RUNNING_P2P → STOP happened; STOP → STOP_COPY failed.
    expect(device.getState()).toBe(MigState.STOP);
    device.close();
  });

  it('a failing arc can leave the device in ERROR; only reset recovers', () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    model.failArc({ from: MigState.RUNNING_P2P, to: MigState.STOP, errno: Errno.EIO, leaveIn: MigState.ERROR });
    expect(() => device.setState(MigState.STOP)).toThrow(expect.objectContaining({ errno: 'EIO' }));
    expect(device.getState()).toBe(MigState.ERROR);
    model.clearFaults();
    for (const target of [MigState.RUNNING, MigState.STOP, MigState.ERROR]) {
      expect(() => device.setState(target)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
      expect(device.getState()).toBe(MigState.ERROR);
    }
    device.reset();
    expect(device.getState()).toBe(MigState.RUNNING);
    device.close();
  });

  it('a failing arc can leave the device in an intermediate state, and fires only `times` times', () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    model.failArc({ from: MigState.RUNNING, to: MigState.RUNNING_P2P, errno: Errno.EBUSY, leaveIn: MigState.RUNNING_P2P, times: 1 });
    expect(() => device.setState(MigState.STOP)).toThrow(expect.objectContaining({ errno: 'EBUSY' }));
    expect(device.getState()).toBe(MigState.RUNNING_P2P);
    device.setState(MigState.RUNNING);
    device.setState(MigState.STOP);
    expect(device.getState()).toBe(MigState.STOP);
    device.close();
  });

  it('a data read fails after K bytes, sticky until cleared', async () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    device.setState(MigState.STOP);
    const file = device.setState(MigState.STOP_COPY).dataFile!;
    model.failDataRead({ afterBytes: 100, errno: Errno.EIO });
    const buf = new Uint8Array(64);
    expect(await file.read(buf)).toEqual({ kind: 'data', bytes: 64 });
    expect(await file.read(buf)).toEqual({ kind: 'data', bytes: 36 });
    await expect(file.read(buf)).rejects.toMatchObject({ errno: 'EIO', syscall: 'read', device: model.name });
    await expect(file.read(buf)).rejects.toMatchObject({ errno: 'EIO' });
    model.clearFaults();
    expect((await drain(file)).byteLength).toBeGreaterThan(0);
    device.close();
  });

  it('a data write fails after K bytes', async () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    device.setState(MigState.STOP);
    const file = device.setState(MigState.RESUMING).dataFile!;
    model.failDataWrite({ afterBytes: 10, errno: 28 /* ENOSPC */ });
    await expect(file.write(new Uint8Array(24))).rejects.toMatchObject({ errno: 'ENOSPC', errnoNumber: 28 });
    device.close();
  });

  it('reset fails with the given errno and leaves the device as it was', () => {
    const { device, model } = createEmulatedDevice({ stateSize: 8192 });
    device.setState(MigState.STOP);
    model.failReset(Errno.EIO);
    expect(() => device.reset()).toThrow(expect.objectContaining({ errno: 'EIO', op: 'VFIO_DEVICE_RESET' }));
    expect(device.getState()).toBe(MigState.STOP);
    device.close();
  });
});
