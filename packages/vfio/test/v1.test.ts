import { describe, expect, it } from 'vitest';
import {
  DeviceMigrationInfoV1,
  Errno,
  V1InfoOffset,
  V1State,
  VfioRegionFlags,
  VfioV1Region,
  type VfioDevice,
  type VfioRegionInfo,
} from '../src/index.js';
import { readU64 } from '../src/uapi/structs.js';
import { V1_DATA_OFFSET, createEmulatedDevice } from '../src/emulated/index.js';

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}
function u64(value: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
  return b;
}
function read64(device: VfioDevice, region: VfioRegionInfo, offset: number): number {
  const b = new Uint8Array(8);
  device.readRegion(region, offset, b);
  return Number(readU64(b));
}
function setV1State(device: VfioDevice, region: VfioRegionInfo, bits: number): void {
  const cur = new Uint8Array(4);
  device.readRegion(region, V1InfoOffset.device_state, cur);
  const value = (new DataView(cur.buffer).getUint32(0, true) & ~V1State.MASK) | bits;
  device.writeRegion(region, V1InfoOffset.device_state, u32(value));
}

/** QEMU 7.x's save loop (docs/design/vfio-uapi.md §7.4) until pending is 0. */
function saveIterate(device: VfioDevice, region: VfioRegionInfo, out: Uint8Array[]): void {
  for (;;) {
    const pending = read64(device, region, V1InfoOffset.pending_bytes);
    if (pending === 0) return;
    const dataOffset = read64(device, region, V1InfoOffset.data_offset);
    const size = read64(device, region, V1InfoOffset.data_size);
    const chunk = new Uint8Array(size);
    device.readRegion(region, dataOffset, chunk);
    out.push(chunk);
  }
}

describe('v1 migration region (emulated)', () => {
  it('is found through the capability chain, with a sparse-mmap cap over the data section', () => {
    const { device } = createEmulatedDevice({ protocol: 'v1', v1DataSectionSize: 16384 });
    const region = device.findRegionByType(VfioV1Region.TYPE, VfioV1Region.SUBTYPE);
    expect(region).toBeDefined();
    expect(region!.index).toBe(9);
    expect(region!.flags & VfioRegionFlags.CAPS).toBe(VfioRegionFlags.CAPS);
    expect(region!.offset).toBe(9 * 2 ** 40);
    expect(region!.capabilities).toEqual([
      { kind: 'sparse-mmap', version: 1, areas: [{ offset: 4096n, size: 16384n }] },
      { kind: 'type', version: 1, type: 3, subtype: 1 },
    ]);
    const info = new Uint8Array(32);
    device.readRegion(region!, 0, info.subarray(0, 4));
    expect(DeviceMigrationInfoV1.decode(info).device_state).toBe(V1State.RUNNING);
    device.close();
    const v2 = createEmulatedDevice({});
    expect(v2.device.findRegionByType(3, 1)).toBeUndefined();
    v2.device.close();
  });

  it('pre-copy + stop-and-copy + resume moves the state byte for byte (QEMU 7.x sequence)', () => {
    const config = { protocol: 'v1' as const, stateSize: 40000, pageSize: 4096, v1DataSectionSize: 8192 };
    const source = createEmulatedDevice({ ...config, seed: 7 });
    const target = createEmulatedDevice({ ...config, seed: 8 });
    const sr = source.device.findRegionByType(3, 1)!;
    const tr = target.device.findRegionByType(3, 1)!;
    const chunks: Uint8Array[] = [];
    setV1State(source.device, sr, V1State.RUNNING | V1State.SAVING);
    saveIterate(source.device, sr, chunks);
    source.model.runWorkload(5);
    expect(read64(source.device, sr, V1InfoOffset.pending_bytes)).toBeGreaterThan(0);
    setV1State(source.device, sr, V1State.SAVING);
    saveIterate(source.device, sr, chunks);
    setV1State(source.device, sr, V1State.STOP);

    setV1State(target.device, tr, V1State.RESUMING);
    for (const chunk of chunks) {
      const dataOffset = read64(target.device, tr, V1InfoOffset.data_offset);
      expect(dataOffset).toBe(V1_DATA_OFFSET);
      target.device.writeRegion(tr, dataOffset, chunk);
      target.device.writeRegion(tr, V1InfoOffset.data_size, u64(chunk.byteLength));
    }
    setV1State(target.device, tr, V1State.RUNNING);
    expect(Buffer.from(target.model.stateBytes).equals(Buffer.from(source.model.stateBytes))).toBe(true);
    source.device.close();
    target.device.close();
  });

  it('fails the data_size write whole when the device consumes only part of the chunk', () => {
    const config = { protocol: 'v1' as const, stateSize: 40000, pageSize: 4096, v1DataSectionSize: 8192 };
    const source = createEmulatedDevice({ ...config, seed: 7 });
    const target = createEmulatedDevice({ ...config, seed: 8 });
    const sr = source.device.findRegionByType(3, 1)!;
    const tr = target.device.findRegionByType(3, 1)!;
    const chunks: Uint8Array[] = [];
    setV1State(source.device, sr, V1State.SAVING);
    saveIterate(source.device, sr, chunks);
    setV1State(target.device, tr, V1State.RESUMING);
    const first = chunks[0]!;
    target.model.failDataWrite({ afterBytes: first.byteLength - 1, errno: Errno.EIO });
    target.device.writeRegion(tr, V1_DATA_OFFSET, first);
    expect(() => target.device.writeRegion(tr, V1InfoOffset.data_size, u64(first.byteLength))).toThrow(
      expect.objectContaining({ errno: 'EIO' }),
    );
    source.device.close();
    target.device.close();
  });

  it('refuses odd widths, read-only fields, invalid states, stop-copy→pre-copy, short loads; ERROR needs reset', () => {
    const { device, model } = createEmulatedDevice({ protocol: 'v1', stateSize: 8192 });
    const region = device.findRegionByType(3, 1)!;
    const einval = expect.objectContaining({ errno: 'EINVAL' });
    expect(() => device.readRegion(region, 8, new Uint8Array(4))).toThrow(einval);
    expect(() => device.readRegion(region, 2, new Uint8Array(4))).toThrow(einval);
    expect(() => device.writeRegion(region, V1InfoOffset.pending_bytes, u64(1))).toThrow(einval);
    expect(() => device.writeRegion(region, V1InfoOffset.data_offset, u64(1))).toThrow(einval);
    for (const bad of [5, 6, 7]) expect(() => device.writeRegion(region, 0, u32(bad))).toThrow(einval);
    setV1State(device, region, V1State.SAVING);
    expect(() => setV1State(device, region, V1State.SAVING | V1State.RUNNING)).toThrow(einval);
    setV1State(device, region, V1State.STOP);
    setV1State(device, region, V1State.RESUMING);
    expect(() => setV1State(device, region, V1State.RUNNING)).toThrow(einval);
    expect(model.v1State & V1State.MASK).toBe(V1State.RESUMING);
    model.failArc({ from: V1State.RESUMING, to: V1State.STOP, errno: Errno.EIO, leaveIn: V1State.ERROR });
    expect(() => setV1State(device, region, V1State.STOP)).toThrow(expect.objectContaining({ errno: 'EIO' }));
    expect(model.v1State & V1State.MASK).toBe(V1State.ERROR);
    model.clearFaults();
    expect(() => setV1State(device, region, V1State.RUNNING)).toThrow(einval);
    device.reset();
    expect(model.v1State).toBe(V1State.RUNNING);
    device.close();
  });

  it('keeps the reserved upper bits of device_state (read-modify-write)', () => {
    const { device, model } = createEmulatedDevice({ protocol: 'v1', stateSize: 8192 });
    const region = device.findRegionByType(3, 1)!;
    device.writeRegion(region, 0, u32(0x100 | V1State.RUNNING));
    setV1State(device, region, V1State.STOP);
    expect(model.v1State).toBe(0x100);
    device.close();
  });
});
