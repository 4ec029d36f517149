/**
 * The emulated kernel's iommufd (IOAS, HWPT with dirty tracking) and device DMA logging:
 * what each reports for the device's DMA writes, clear on read, and every errno of
 * docs/design/vfio-dirty-tracking.md §2 and §3.
 */
import { describe, expect, it } from 'vitest';
import {
  DmaLoggingControl,
  DmaLoggingRange,
  DmaLoggingReport,
  Errno,
  FdVfioDevice,
  HwptAllocFlags,
  HwptGetDirtyBitmap,
  HwptGetDirtyBitmapFlags,
  HwptSetDirtyTracking,
  IommuHwCap,
  IommufdContext,
  IommufdIoctl,
  MigState,
  VfioFeature,
  VfioFeatureFlags,
  VfioIoctl,
  encodeDeviceFeature,
  dmaLoggingOf,
  type DeviceDmaLogging,
} from '../src/index.js';
import { DeviceFeatureHeader } from '../src/uapi/structs.js';
import { EmulatedVfioKernel, type EmulatedDeviceConfig } from '../src/emulated/index.js';

const MiB = 1 << 20;

function bitsOf(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (((bitmap[i >> 3] as number) & (1 << (i & 7))) !== 0) out.push(i);
  return out;
}

function iommufdRig(config: EmulatedDeviceConfig) {
  const kernel = new EmulatedVfioKernel();
  const node = kernel.addDevice({ name: 'fd0', ...config });
  const ctx = IommufdContext.open({ syscalls: kernel });
  const device = ctx.openDevice(node) as FdVfioDevice;
  const devId = ctx.deviceId(device) as number;
  const ioas = ctx.iommu.allocIoas();
  const ram = Buffer.alloc(MiB);
  const iova = 0x40000000;
  ctx.iommu.mapIoas(ioas, iova, ram);
  return { kernel, model: node.model, ctx, device, devId, ioas, ram, iova, iommu: ctx.iommu };
}

describe('iommufd: a physical device on a HWPT with dirty tracking', () => {
  it('GET_HW_INFO reports DIRTY_TRACKING; DMA writes are read (and cleared) by GET_DIRTY_BITMAP; NO_CLEAR keeps them', () => {
    const { model, ctx, device, devId, ioas, iova, iommu } = iommufdRig({ iommu: 'physical', iommuDirtyTracking: true });
    expect(iommu.getHwInfo(devId).capabilities).toBe(BigInt(IommuHwCap.DIRTY_TRACKING));
    expect(iommu.probeDirtyTracking(devId).supported).toBe(true);
    const hwpt = iommu.allocHwpt(devId, ioas, HwptAllocFlags.DIRTY_TRACKING);
    expect(ctx.attach(device, hwpt)).toBe(hwpt);
    model.dma.writeAt(iova + 4 * 4096, new Uint8Array(8)); // tracking off: not recorded
    iommu.setDirtyTracking(hwpt, true);
    model.dma.writeAt(iova + 7 * 4096, new Uint8Array(8));
    model.dma.writeAt(iova + 200 * 4096 + 4090, new Uint8Array(8)); // crosses into page 201
    const keep = new Uint8Array(32);
    iommu.getDirtyBitmap(hwpt, iova, MiB, 4096, keep, HwptGetDirtyBitmapFlags.NO_CLEAR);
    expect(bitsOf(keep)).toEqual([7, 200, 201]);
    const wide = new Uint8Array(8);
    iommu.getDirtyBitmap(hwpt, iova, MiB, 65536, wide, HwptGetDirtyBitmapFlags.NO_CLEAR);
    expect(bitsOf(wide)).toEqual([0, 12]);
    const read = new Uint8Array(32);
    iommu.getDirtyBitmap(hwpt, iova, MiB, 4096, read);
    expect(bitsOf(read)).toEqual([7, 200, 201]);
    const again = new Uint8Array(32);
    iommu.getDirtyBitmap(hwpt, iova, MiB, 4096, again);
    expect(bitsOf(again)).toEqual([]);
    device.setState(MigState.STOP);
    expect(model.dma.write(10)).toBe(0);
  });
  it('attached to the IOAS it gets an automatic page table without dirty ops; an mdev attaches to the IOAS and is unknown to GET_HW_INFO', () => {
    const phys = iommufdRig({ iommu: 'physical', iommuDirtyTracking: true });
    const auto = phys.ctx.attach(phys.device, phys.ioas);
    expect(auto).not.toBe(phys.ioas);
    expect(() => phys.iommu.setDirtyTracking(auto, true)).toThrow(/EOPNOTSUPP/);
    expect(() => phys.iommu.getDirtyBitmap(auto, phys.iova, MiB, 4096, new Uint8Array(32))).toThrow(/EOPNOTSUPP/);
    expect(phys.model.dma.target?.kind).toBe('iommufd-ioas');
    const mdev = iommufdRig({});
    expect(mdev.ctx.attach(mdev.device, mdev.ioas)).toBe(mdev.ioas);
    expect(mdev.iommu.probeDirtyTracking(mdev.devId)).toMatchObject({ supported: false, refusal: { mechanism: 'iommufd-hwpt', errno: 'ENOENT' } });
    expect(() => mdev.iommu.allocHwpt(mdev.devId, mdev.ioas)).toThrow(/ENOENT/);
    expect(mdev.model.dma.write(3)).toBe(3);
  });
  it('errnos: EOPNOTSUPP, ENOENT, EINVAL, EOVERFLOW, E2BIG, EBUSY, EEXIST', () => {
    const noDirty = iommufdRig({ iommu: 'physical' });
    expect(noDirty.iommu.probeDirtyTracking(noDirty.devId)).toMatchObject({ supported: false, refusal: { why: 'the IOMMU lacks IOMMU_HW_CAP_DIRTY_TRACKING' } });
    expect(() => noDirty.iommu.allocHwpt(noDirty.devId, noDirty.ioas, HwptAllocFlags.DIRTY_TRACKING)).toThrow(/EOPNOTSUPP/);
    expect(() => noDirty.iommu.allocHwpt(noDirty.devId, noDirty.ioas, HwptAllocFlags.FAULT_ID_VALID)).toThrow(/EOPNOTSUPP/);
    const { kernel, ctx, device, model, devId, ioas, iova, iommu, ram } = iommufdRig({ iommu: 'physical', iommuDirtyTracking: true });
    const hwpt = iommu.allocHwpt(devId, ioas, HwptAllocFlags.DIRTY_TRACKING);
    // a device that cannot track may not attach to a HWPT that enforces it
    expect(noDirty.ctx.attach(noDirty.device, noDirty.ioas)).toBeGreaterThan(0);
    const other = kernel.addDevice({ name: 'nodirty', iommu: 'physical' });
    const otherDev = ctx.openDevice(other);
    expect(() => ctx.attach(otherDev, hwpt)).toThrow(/EINVAL/);
    expect(() => iommu.setDirtyTracking(999, true)).toThrow(/ENOENT/);
    const set = (flags: number): number => kernel.ioctl(ctx.fd, IommufdIoctl.HWPT_SET_DIRTY_TRACKING, HwptSetDirtyTracking.encode({ size: 16, flags, hwpt_id: hwpt, __reserved: 0 }));
    expect(set(2)).toBe(-Errno.EOPNOTSUPP);
    expect(set(1)).toBe(0);
    const bm = new Uint8Array(32);
    const get = (g: Partial<{ size: number; flags: number; __reserved: number; iova: bigint; length: bigint; page_size: bigint; data: bigint }>, extra?: Uint8Array): number => {
      const base = HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: hwpt, flags: 0, __reserved: 0, iova: BigInt(iova), length: BigInt(MiB), page_size: 4096n, data: kernel.addressOf(bm), ...g });
      const arg = extra ? Buffer.concat([base, extra]) : base;
      if (extra) new DataView(arg.buffer, arg.byteOffset).setUint32(0, arg.byteLength, true);
      return kernel.ioctl(ctx.fd, IommufdIoctl.HWPT_GET_DIRTY_BITMAP, arg);
    };
    expect(get({})).toBe(0);
    expect(get({ flags: 2 })).toBe(-Errno.EOPNOTSUPP);
    expect(get({ __reserved: 1 })).toBe(-Errno.EOPNOTSUPP);
    expect(get({ iova: 2n ** 64n - 4096n, length: 8192n })).toBe(-Errno.EOVERFLOW);
    expect(get({ iova: BigInt(iova) + 512n })).toBe(-Errno.EINVAL);
    expect(get({ page_size: 0n })).toBe(-Errno.EINVAL);
    expect(get({ page_size: 8192n, iova: BigInt(iova) + 4096n, length: BigInt(MiB) - 8192n })).toBe(-Errno.EINVAL);
    // the bitmap is pinned only when a bit must be set: nothing dirty, no fault; a dirty page, EFAULT
    expect(get({ data: 0x10000n })).toBe(0);
    expect(ctx.attach(device, hwpt)).toBe(hwpt);
    expect(model.dma.writeAt(iova, new Uint8Array(1))).toBe(true);
    expect(get({ data: 0x10000n })).toBe(-Errno.EFAULT);
    expect(set(0)).toBe(0);
    expect(get({})).toBe(-Errno.EINVAL); // tracking off: the IOMMU driver refuses to read
    expect(set(1)).toBe(0);
    expect(get({ size: 40 })).toBe(-Errno.EINVAL);
    expect(get({}, new Uint8Array(8))).toBe(0);
    expect(get({}, new Uint8Array([0, 0, 1, 0, 0, 0, 0, 0]))).toBe(-Errno.E2BIG);
    expect(get({ hwpt_id: 999 } as never)).toBe(-Errno.ENOENT);
    expect(() => iommu.mapIoas(ioas, iova, Buffer.alloc(4096))).toThrow(/EEXIST/);
    expect(() => iommu.mapIoas(999, 0, Buffer.alloc(4096))).toThrow(/ENOENT/);
    expect(() => iommu.unmapIoas(ioas, iova + 4096, 4096)).toThrow(/ENOENT/);
    expect(() => iommu.destroy(ioas)).toThrow(/EBUSY/);
    expect(iommu.unmapIoas(ioas, iova, ram.length)).toBe(BigInt(MiB));
  });
});

describe('device DMA logging', () => {
  function loggingRig(config: EmulatedDeviceConfig = {}) {
    const r = iommufdRig({ dmaLogging: true, ...config });
    r.ctx.attach(r.device, r.ioas);
    return { ...r, logging: dmaLoggingOf(r.device) as DeviceDmaLogging };
  }

  it('PROBE: ENOTTY without log ops (a refusal), 0 with', () => {
    const none = iommufdRig({});
    expect(dmaLoggingOf(none.device)?.probe()).toMatchObject({ supported: false, refusal: { mechanism: 'device-dma-logging', errno: 'ENOTTY' } });
    expect(loggingRig().logging.probe()).toEqual({ supported: true, detail: {} });
  });
  it('START over a range, writes logged at the page size, REPORT clears on read; any report page size; STOP', () => {
    const { model, logging, iova } = loggingRig();
    expect(logging.start(4096, [{ iova, length: MiB }])).toBe(4096);
    model.dma.writeAt(iova + 3 * 4096, new Uint8Array(8));
    model.dma.writeAt(iova + 100 * 4096, new Uint8Array(8));
    const wide = new Uint8Array(8);
    logging.report(iova, MiB / 2, 8192, wide);
    expect(bitsOf(wide)).toEqual([1, 50]);
    const after = new Uint8Array(32);
    logging.report(iova, MiB, 4096, after);
    expect(bitsOf(after)).toEqual([]);
    model.dma.writeAt(iova + 255 * 4096, new Uint8Array(8));
    const full = new Uint8Array(32);
    logging.report(iova, MiB, 4096, full);
    expect(bitsOf(full)).toEqual([255]);
    logging.stop();
    expect(() => logging.report(iova, MiB, 4096, full)).toThrow(/EINVAL/);
  });
  it('a device that picks its own page size writes it back', () => {
    const { model, logging, iova } = loggingRig({ dmaLoggingPageSize: 16384 });
    expect(logging.start(4096, [{ iova, length: MiB }])).toBe(16384);
    model.dma.writeAt(iova + 5 * 4096, new Uint8Array(8));
    const bm = new Uint8Array(32);
    logging.report(iova, MiB, 4096, bm);
    expect(bitsOf(bm)).toEqual([4, 5, 6, 7]);
  });
  it('errnos: EINVAL, E2BIG, EOVERFLOW, EFAULT', () => {
    const { kernel, device, model, logging, iova } = loggingRig();
    const start = (ranges: { iova: bigint; length: bigint }[], pageSize = 4096n, numRanges = ranges.length, data?: bigint): number => {
      const array = new Uint8Array(Math.max(1, ranges.length) * 16);
      ranges.forEach((r, i) => DmaLoggingRange.encode(r, array, i * 16));
      const control = DmaLoggingControl.encode({ page_size: pageSize, num_ranges: numRanges, __reserved: 0, ranges: data ?? kernel.addressOf(array) });
      return kernel.ioctl(device.fd, VfioIoctl.DEVICE_FEATURE, encodeDeviceFeature(VfioFeatureFlags.SET | VfioFeature.DMA_LOGGING_START, control));
    };
    const I = BigInt(iova);
    expect(start([])).toBe(-Errno.EINVAL);
    expect(start(Array.from({ length: 257 }, (_, i) => ({ iova: BigInt(i) * 4096n, length: 4096n })))).toBe(-Errno.E2BIG);
    expect(start([{ iova: I + 512n, length: 4096n }])).toBe(-Errno.EINVAL);
    expect(start([{ iova: I, length: 4000n }])).toBe(-Errno.EINVAL);
    expect(start([{ iova: 2n ** 64n - 4096n, length: 8192n }])).toBe(-Errno.EOVERFLOW);
    expect(start([{ iova: I, length: 8192n }, { iova: I + 4096n, length: 4096n }])).toBe(-Errno.EINVAL);
    expect(start([{ iova: I, length: 4096n }], 4096n, 1, 0x10000n)).toBe(-Errno.EFAULT);
    expect(start([{ iova: I, length: 4096n }])).toBe(0);
    expect(start([{ iova: I, length: 4096n }])).toBe(-Errno.EINVAL); // one START until STOP
    const feature = (flags: number, payload: Uint8Array): number => kernel.ioctl(device.fd, VfioIoctl.DEVICE_FEATURE, encodeDeviceFeature(flags, payload));
    expect(feature(VfioFeatureFlags.GET | VfioFeature.DMA_LOGGING_START, new Uint8Array(24))).toBe(-Errno.EINVAL);
    expect(feature(VfioFeatureFlags.SET | VfioFeature.DMA_LOGGING_REPORT, new Uint8Array(32))).toBe(-Errno.EINVAL);
    expect(feature(VfioFeature.DMA_LOGGING_STOP, new Uint8Array(0))).toBe(-Errno.EINVAL);
    expect(feature(VfioFeatureFlags.GET | VfioFeature.DMA_LOGGING_REPORT, new Uint8Array(16))).toBe(-Errno.EINVAL);
    const bm = new Uint8Array(8);
    const report = (r: Partial<{ iova: bigint; length: bigint; page_size: bigint; bitmap: bigint }>): number =>
      feature(VfioFeatureFlags.GET | VfioFeature.DMA_LOGGING_REPORT, DmaLoggingReport.encode({ iova: I, length: 65536n, page_size: 4096n, bitmap: kernel.addressOf(bm), ...r }));
    expect(report({})).toBe(0);
    expect(report({ page_size: 2048n })).toBe(-Errno.EINVAL);
    expect(report({ page_size: 12288n })).toBe(-Errno.EINVAL);
    expect(report({ iova: 2n ** 64n - 4096n, length: 8192n })).toBe(-Errno.EOVERFLOW);
    expect(report({ bitmap: 0x10000n })).toBe(0); // nothing dirty: the bitmap is never pinned
    expect(model.dma.writeAt(iova, new Uint8Array(1))).toBe(true);
    expect(report({ bitmap: 0x10000n })).toBe(-Errno.EFAULT);
    const header = DeviceFeatureHeader.encode({ argsz: 7, flags: VfioFeatureFlags.SET | VfioFeature.DMA_LOGGING_STOP });
    expect(kernel.ioctl(device.fd, VfioIoctl.DEVICE_FEATURE, header)).toBe(-Errno.EINVAL);
    logging.stop();
    logging.stop(); // STOP when off: 0
  });
});
