/**
 * The emulated kernel's type1 container doing DMA: mappings backed by the caller's memory,
 * a device writing guest pages only while it runs, GET_INFO's capabilities, DIRTY_PAGES and
 * UNMAP_DMA with the dirty bitmap, and every errno of docs/design/vfio-dirty-tracking.md §1.
 */
import { describe, expect, it } from 'vitest';
import {
  DirtyPagesFlags,
  DmaUnmapFlags,
  Errno,
  MigState,
  Type1DirtyBitmap,
  Type1DirtyBitmapGet,
  Type1DmaMap,
  Type1DmaUnmap,
  Type1Info,
  VfioBitmap,
  VfioContainer,
  VfioIommuIoctl,
  VfioIoctl,
  type VfioDevice,
} from '../src/index.js';
import { VfioIommuType } from '../src/uapi/constants.js';
import { EmulatedDmaWriter, EmulatedVfioKernel, type EmulatedDeviceConfig } from '../src/emulated/index.js';

const MiB = 1 << 20;

function rig(config: EmulatedDeviceConfig = {}, mib = 1) {
  const kernel = new EmulatedVfioKernel();
  const node = kernel.addDevice({ name: 'dma0', ...config });
  const container = VfioContainer.open({ syscalls: kernel });
  const device: VfioDevice = container.openDevice(node);
  const ram = Buffer.alloc(mib * MiB);
  const iova = 0x100000000;
  container.iommu.mapDma(iova, ram);
  return { kernel, model: node.model, container, device, ram, iova, iommu: container.iommu };
}

/** The bits set in a little-endian bitmap. */
function bitsOf(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (((bitmap[i >> 3] as number) & (1 << (i & 7))) !== 0) out.push(i);
  return out;
}

/** The pages of `ram` that differ from `before`. */
function changedPages(ram: Uint8Array, before: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p * 4096 < ram.length; p++) {
    if (!Buffer.from(ram.subarray(p * 4096, p * 4096 + 4096)).equals(before.subarray(p * 4096, p * 4096 + 4096))) out.push(p);
  }
  return out;
}

/** A raw DIRTY_PAGES GET_BITMAP argument. */
function getBitmapArg(kernel: EmulatedVfioKernel, iova: bigint, size: bigint, pgsize: bigint, bitmap: Uint8Array, bitmapSize = BigInt(bitmap.byteLength), argsz = 48): Uint8Array {
  const buf = new Uint8Array(48);
  Type1DirtyBitmap.encode({ argsz, flags: DirtyPagesFlags.GET_BITMAP }, buf);
  Type1DirtyBitmapGet.encode({ iova, size, pgsize, bitmap_size: bitmapSize, data: kernel.addressOf(bitmap) }, buf, 8);
  return buf;
}

describe('type1: GET_INFO', () => {
  it('an emulated-IOMMU container: PAGE_MASK page sizes, MIGRATION (4096, 256 MiB), DMA_AVAIL 65534, no IOVA_RANGE', () => {
    const { iommu } = rig();
    expect(iommu.getInfo()).toEqual({
      flags: 3,
      iovaPgsizes: 0xfffffffffffff000n,
      migration: { flags: 0, pgsizeBitmap: 4096n, maxDirtyBitmapSize: 268435456n },
      dmaAvail: 65534,
      iovaRanges: undefined,
      unknownCaps: [],
    });
    const probe = iommu.probeDirtyTracking();
    expect(probe).toMatchObject({ supported: true, detail: { pageSize: 4096, maxBitmapBytes: 268435456 } });
  });
  it('an IOMMU-backed container adds IOVA_RANGE; argsz 24 gets the size it needs and no caps', () => {
    const { kernel, container, iommu } = rig({ iommu: 'physical' });
    const info = iommu.getInfo();
    expect(info.iovaPgsizes).toBe(0x40201000n);
    expect(info.iovaRanges).toEqual([
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: 0xffffffffffffn },
    ]);
    const small = Type1Info.encode({ argsz: 24, flags: 0, iova_pgsizes: 0n, cap_offset: 0, pad: 0 });
    expect(kernel.ioctl(container.fd, VfioIommuIoctl.GET_INFO, small)).toBe(0);
    expect(Type1Info.decode(small)).toEqual({ argsz: 24 + 32 + 16 + 48, flags: 3, iova_pgsizes: 0x40201000n, cap_offset: 0, pad: 0 });
    const tooSmall = Type1Info.encode({ argsz: 15, flags: 0, iova_pgsizes: 0n, cap_offset: 0, pad: 0 });
    expect(kernel.ioctl(container.fd, VfioIommuIoctl.GET_INFO, tooSmall)).toBe(-Errno.EINVAL);
  });
  it('before any group sets the IOMMU, type1 ioctls are EINVAL', () => {
    const kernel = new EmulatedVfioKernel();
    const container = VfioContainer.open({ syscalls: kernel });
    expect(() => container.iommu.getInfo()).toThrow(/EINVAL/);
    container.close();
  });
});

describe('type1: the device writes guest memory by DMA', () => {
  it('writes land in the mapped buffer only while the device runs; each page is reported once after START', () => {
    const { model, device, ram, iova, iommu } = rig();
    const before = Buffer.from(ram);
    iommu.startDirtyTracking();
    expect(model.dma.write(20)).toBe(20);
    const written = changedPages(ram, before);
    expect(written.length).toBeGreaterThan(0);
    const bitmap = new Uint8Array(32);
    iommu.getDirtyBitmap(iova, ram.length, 4096, bitmap);
    expect(bitsOf(bitmap)).toEqual(written);
    const again = new Uint8Array(32);
    iommu.getDirtyBitmap(iova, ram.length, 4096, again);
    expect(bitsOf(again)).toEqual([]);
    device.setState(MigState.STOP);
    const frozen = Buffer.from(ram);
    expect(model.dma.write(50)).toBe(0);
    expect(model.dma.writeAt(iova, new Uint8Array([1]))).toBe(false);
    expect(Buffer.from(ram).equals(frozen)).toBe(true);
    for (const state of [MigState.RUNNING_P2P, MigState.PRE_COPY_P2P, MigState.PRE_COPY]) {
      device.setState(MigState.STOP);
      device.setState(MigState.RUNNING);
      device.setState(state);
      expect(model.dma.write(1)).toBe(1);
      device.setState(MigState.RUNNING);
    }
    expect([...model.dma.writesByState.keys()].sort()).toEqual([MigState.RUNNING, MigState.RUNNING_P2P, MigState.PRE_COPY, MigState.PRE_COPY_P2P].sort());
  });
  it('writes before START are not reported; a mapping made while tracking is tracked from its first write', () => {
    const { kernel, model, container, iova, iommu } = rig();
    model.dma.write(10);
    iommu.startDirtyTracking();
    const bitmap = new Uint8Array(32);
    iommu.getDirtyBitmap(iova, MiB, 4096, bitmap);
    expect(bitsOf(bitmap)).toEqual([]);
    const more = Buffer.alloc(64 * 1024);
    container.iommu.mapDma(0x200000000, more);
    expect(model.dma.writeAt(0x200000000 + 3 * 4096 + 8, new Uint8Array([9, 9]))).toBe(true);
    expect(more[3 * 4096 + 8]).toBe(9);
    const b2 = new Uint8Array(8);
    iommu.getDirtyBitmap(0x200000000, more.length, 4096, b2);
    expect(bitsOf(b2)).toEqual([3]);
    expect(kernel.openFds().length).toBeGreaterThan(0);
  });
  it('a physical device that never pins: every GET and every unmap with bitmap reports all mapped pages', () => {
    const { model, ram, iova, iommu } = rig({ iommu: 'physical' }, 1);
    iommu.startDirtyTracking();
    for (let i = 0; i < 2; i++) {
      const bitmap = new Uint8Array(32);
      iommu.getDirtyBitmap(iova, ram.length, 4096, bitmap);
      expect(bitsOf(bitmap).length).toBe(256);
    }
    model.dma.write(3);
    const unmapBitmap = new Uint8Array(32);
    expect(iommu.unmapDmaGetBitmap(iova, ram.length, 4096, unmapBitmap)).toBe(BigInt(ram.length));
    expect(bitsOf(unmapBitmap).length).toBe(256);
    expect(iommu.getInfo().dmaAvail).toBe(65535);
  });
  it('UNMAP with GET_DIRTY_BITMAP reports the written pages relative to the unmap iova, and returns the bytes unmapped', () => {
    const { model, iova, iommu } = rig();
    iommu.startDirtyTracking();
    expect(model.dma.writeAt(iova + 5 * 4096, new Uint8Array(4))).toBe(true);
    expect(model.dma.writeAt(iova + 255 * 4096 + 4092, new Uint8Array(4))).toBe(true);
    const bitmap = new Uint8Array(32);
    expect(iommu.unmapDmaGetBitmap(iova, MiB, 4096, bitmap)).toBe(BigInt(MiB));
    expect(bitsOf(bitmap)).toEqual([5, 255]);
    expect(model.dma.write(5)).toBe(0); // nothing mapped any more
  });
  it('two mappings in one GET: the second, not on a 64-page boundary, is merged into the first word', () => {
    const kernel = new EmulatedVfioKernel();
    const node = kernel.addDevice({ name: 'two' });
    const container = VfioContainer.open({ syscalls: kernel });
    container.openDevice(node);
    const a = Buffer.alloc(10 * 4096);
    const b = Buffer.alloc(6 * 4096);
    container.iommu.mapDma(0x1000000, a);
    container.iommu.mapDma(0x1000000 + 10 * 4096, b);
    container.iommu.startDirtyTracking();
    node.model.dma.writeAt(0x1000000 + 2 * 4096, new Uint8Array(1));
    node.model.dma.writeAt(0x1000000 + 12 * 4096, new Uint8Array(1));
    const bitmap = new Uint8Array(8).fill(0);
    container.iommu.getDirtyBitmap(0x1000000, 16 * 4096, 4096, bitmap);
    expect(bitsOf(bitmap)).toEqual([2, 12]);
  });
  it('a DMA writer at a rate writes about rate × time, and nothing while the device is stopped', () => {
    const { model, device } = rig();
    const writer = new EmulatedDmaWriter(model.dma, { pagesPerSecond: 10000 });
    const t0 = 1000;
    writer.tick(t0);
    expect(writer.tick(t0 + 100)).toBeGreaterThan(0);
    device.setState(MigState.STOP);
    expect(writer.tick(t0 + 200)).toBe(0);
    expect(model.dma.writesByState.get(MigState.STOP)).toBeUndefined();
  });
});

describe('type1: errnos', () => {
  it('DIRTY_PAGES: EACCES on a TYPE1 (not v2) container; EINVAL for argsz < 8, an unknown flag, two flags or none', () => {
    const kernel = new EmulatedVfioKernel();
    kernel.addDevice({ name: 'v1c' });
    const c = kernel.open('/dev/vfio/vfio', 2);
    const g = kernel.open('/dev/vfio/0', 2);
    const fd = new Uint8Array(4);
    new DataView(fd.buffer).setInt32(0, c, true);
    expect(kernel.ioctl(g, VfioIoctl.GROUP_SET_CONTAINER, fd)).toBe(0);
    expect(kernel.ioctlValue(c, VfioIoctl.SET_IOMMU, VfioIommuType.TYPE1)).toBe(0);
    expect(kernel.ioctl(c, VfioIommuIoctl.DIRTY_PAGES, Type1DirtyBitmap.encode({ argsz: 8, flags: 1 }))).toBe(-Errno.EACCES);
    const { kernel: k2, container } = rig();
    const dirty = (argsz: number, flags: number): number => k2.ioctl(container.fd, VfioIommuIoctl.DIRTY_PAGES, Type1DirtyBitmap.encode({ argsz, flags }));
    expect(dirty(7, DirtyPagesFlags.START)).toBe(-Errno.EINVAL);
    expect(dirty(8, 8)).toBe(-Errno.EINVAL);
    expect(dirty(8, 3)).toBe(-Errno.EINVAL);
    expect(dirty(8, 0)).toBe(-Errno.EINVAL);
    expect(dirty(8, DirtyPagesFlags.STOP)).toBe(0); // not started: 0
    expect(dirty(8, DirtyPagesFlags.START)).toBe(0);
    expect(dirty(8, DirtyPagesFlags.START)).toBe(0); // idempotent
  });
  it('GET_BITMAP: every EINVAL row, EFAULT for a pointer to nothing', () => {
    const { kernel, container, iova } = rig();
    const get = (arg: Uint8Array): number => kernel.ioctl(container.fd, VfioIommuIoctl.DIRTY_PAGES, arg);
    const bm = new Uint8Array(32);
    const I = BigInt(iova);
    const M = BigInt(MiB);
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm))).toBe(-Errno.EINVAL); // not started
    container.iommu.startDirtyTracking();
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm))).toBe(0);
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm, 32n, 47))).toBe(-Errno.EINVAL); // argsz − 8 < 40
    expect(get(getBitmapArg(kernel, 2n ** 64n - 4096n, 8192n, 4096n, bm))).toBe(-Errno.EINVAL); // overflow
    const notUser = getBitmapArg(kernel, I, M, 4096n, bm);
    Type1DirtyBitmapGet.encode({ iova: I, size: M, pgsize: 4096n, bitmap_size: 32n, data: 0xffff800000000000n }, notUser, 8);
    expect(get(notUser)).toBe(-Errno.EINVAL); // access_ok
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm, 0n))).toBe(-Errno.EINVAL); // size 0
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm, 16n))).toBe(-Errno.EINVAL); // too small
    expect(get(getBitmapArg(kernel, I, M, 4096n, bm, 268435457n))).toBe(-Errno.EINVAL); // > 256 MiB
    expect(get(getBitmapArg(kernel, I, 0n, 4096n, bm))).toBe(-Errno.EINVAL); // no pages
    expect(get(getBitmapArg(kernel, I, M, 8192n, bm))).toBe(-Errno.EINVAL); // pgsize
    expect(get(getBitmapArg(kernel, I + 512n, M, 4096n, bm))).toBe(-Errno.EINVAL); // iova alignment
    expect(get(getBitmapArg(kernel, I, M - 512n, 4096n, bm))).toBe(-Errno.EINVAL); // size alignment
    expect(get(getBitmapArg(kernel, I + 4096n, M - 4096n, 4096n, bm))).toBe(-Errno.EINVAL); // bisects at the start
    expect(get(getBitmapArg(kernel, I, M / 2n, 4096n, bm))).toBe(-Errno.EINVAL); // bisects at the end
    const fault = getBitmapArg(kernel, I, M, 4096n, bm);
    Type1DirtyBitmapGet.encode({ iova: I, size: M, pgsize: 4096n, bitmap_size: 32n, data: 0x10000n }, fault, 8);
    expect(get(fault)).toBe(-Errno.EFAULT);
  });
  it('MAP_DMA and UNMAP_DMA (with bitmap): EINVAL, EEXIST, EFAULT rows', () => {
    const { kernel, container, iova, ram } = rig();
    const map = (m: Partial<{ argsz: number; flags: number; vaddr: bigint; iova: bigint; size: bigint }>): number =>
      kernel.ioctl(
        container.fd,
        VfioIommuIoctl.MAP_DMA,
        Type1DmaMap.encode({ argsz: 32, flags: 3, vaddr: kernel.addressOf(ram), iova: 0x300000000n, size: 4096n, ...m }),
      );
    expect(map({ argsz: 31 })).toBe(-Errno.EINVAL);
    expect(map({ flags: 8 })).toBe(-Errno.EINVAL);
    expect(map({ flags: 0 })).toBe(-Errno.EINVAL);
    expect(map({ size: 0n })).toBe(-Errno.EINVAL);
    expect(map({ iova: 0x300000800n })).toBe(-Errno.EINVAL);
    expect(map({ iova: 2n ** 64n - 4096n, size: 8192n })).toBe(-Errno.EINVAL);
    expect(map({ iova: BigInt(iova) + 4096n })).toBe(-Errno.EEXIST);
    expect(map({ vaddr: 0x10000n })).toBe(-Errno.EFAULT);
    expect(map({})).toBe(0);
    const unmap = (flags: number, u: Partial<{ iova: bigint; size: bigint }>, bitmap?: { pgsize: bigint; size: bigint; data: bigint }, argsz = bitmap ? 48 : 24): number => {
      const buf = new Uint8Array(48);
      Type1DmaUnmap.encode({ argsz, flags, iova: BigInt(iova), size: BigInt(MiB), ...u }, buf);
      if (bitmap) VfioBitmap.encode(bitmap, buf, 24);
      return kernel.ioctl(container.fd, VfioIommuIoctl.UNMAP_DMA, buf);
    };
    const bm = new Uint8Array(32);
    const good = { pgsize: 4096n, size: 32n, data: kernel.addressOf(bm) };
    const G = DmaUnmapFlags.GET_DIRTY_BITMAP;
    expect(unmap(G | DmaUnmapFlags.ALL, {}, good)).toBe(-Errno.EINVAL);
    expect(unmap(G, {}, good, 47)).toBe(-Errno.EINVAL);
    expect(unmap(G, {}, { ...good, size: 8n })).toBe(-Errno.EINVAL); // too small for 256 pages
    expect(unmap(G, {}, good)).toBe(-Errno.EINVAL); // tracking not started
    container.iommu.startDirtyTracking();
    expect(unmap(G, {}, { ...good, pgsize: 8192n, size: 16n })).toBe(-Errno.EINVAL);
    expect(unmap(G, { iova: BigInt(iova) + 4096n, size: BigInt(MiB) - 4096n }, good)).toBe(-Errno.EINVAL); // bisects
    expect(unmap(G, {}, { ...good, data: 0x10000n })).toBe(-Errno.EFAULT);
    expect(unmap(0, { size: 0n })).toBe(-Errno.EINVAL);
    expect(unmap(G, {}, good)).toBe(0);
  });
});

describe('type1: fault injection', () => {
  it('a failIoctl fault fires before the kernel looks (nothing changes), as many times as asked', () => {
    const { kernel, iommu, iova } = rig();
    kernel.failIoctl({ op: 'VFIO_IOMMU_DIRTY_PAGES START', errno: Errno.ENOMEM, times: 1 });
    expect(() => iommu.startDirtyTracking()).toThrow(/VFIO_IOMMU_DIRTY_PAGES START: ioctl failed with ENOMEM/);
    iommu.startDirtyTracking();
    kernel.failIoctl({ op: 'VFIO_IOMMU_DIRTY_PAGES GET_BITMAP', errno: Errno.EFAULT });
    expect(() => iommu.getDirtyBitmap(iova, MiB, 4096, new Uint8Array(32))).toThrow(/EFAULT/);
    expect(() => iommu.getDirtyBitmap(iova, MiB, 4096, new Uint8Array(32))).toThrow(/EFAULT/);
    kernel.clearIoctlFaults();
    iommu.getDirtyBitmap(iova, MiB, 4096, new Uint8Array(32));
  });
});
