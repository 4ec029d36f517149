/**
 * The DMA dirty-tracking uAPI byte for byte: every struct's size and field offsets against
 * the layout tables of docs/design/vfio-dirty-tracking.md (written from the table, not from
 * the code), hand-written bytes, round trips of random values, GET_INFO chains, and the
 * exact argument bytes each wrapper hands the kernel.
 */
import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import {
  DIRTY_BITMAP_SIZE_MAX,
  DirtyPagesFlags,
  DmaMapFlags,
  DmaUnmapFlags,
  HwInfo,
  HwptAlloc,
  HwptAllocFlags,
  HwptDirtyTrackingFlags,
  HwptGetDirtyBitmap,
  HwptGetDirtyBitmapFlags,
  HwptSetDirtyTracking,
  IoasAlloc,
  IoasMap,
  IoasMapFlags,
  IoasUnmap,
  IommuDestroy,
  IommuHwCap,
  IommuTestDirty,
  IommuTestMockDomain,
  IommufdIoctl,
  IommufdIommu,
  Type1DirtyBitmap,
  Type1DirtyBitmapGet,
  Type1DmaMap,
  Type1DmaUnmap,
  Type1Info,
  Type1InfoFlags,
  Type1Iommu,
  VfioBitmap,
  VfioFeature,
  VfioIommuIoctl,
  VfioIoctl,
  DeviceDmaLogging,
  dirtyBitmapBytes,
  parseType1Info,
  CapabilityChainError,
  type StructCodec,
  type Syscalls,
} from '../src/index.js';
import { IommufdMinSize } from '../src/uapi/iommufd.js';
import { encodeType1InfoCaps } from '../src/uapi/type1-info.js';
import { IovaRange, Type1CapDmaAvail, Type1CapIovaRangeHead, Type1CapMigration } from '../src/uapi/type1-structs.js';
import { Type1CapId } from '../src/uapi/type1.js';

type Layout = readonly [StructCodec<never>, number, ReadonlyArray<readonly [string, number, number]>];

/** From the design doc's tables: struct, size, [field, offset, width]. */
const LAYOUTS: readonly Layout[] = [
  [Type1Info as StructCodec<never>, 24, [['argsz', 0, 4], ['flags', 4, 4], ['iova_pgsizes', 8, 8], ['cap_offset', 16, 4], ['pad', 20, 4]]],
  [Type1CapMigration as StructCodec<never>, 32, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4], ['flags', 8, 4], ['pad', 12, 4], ['pgsize_bitmap', 16, 8], ['max_dirty_bitmap_size', 24, 8]]],
  [Type1CapDmaAvail as StructCodec<never>, 12, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4], ['avail', 8, 4]]],
  [Type1CapIovaRangeHead as StructCodec<never>, 16, [['id', 0, 2], ['version', 2, 2], ['next', 4, 4], ['nr_iovas', 8, 4], ['reserved', 12, 4]]],
  [IovaRange as StructCodec<never>, 16, [['start', 0, 8], ['end', 8, 8]]],
  [Type1DmaMap as StructCodec<never>, 32, [['argsz', 0, 4], ['flags', 4, 4], ['vaddr', 8, 8], ['iova', 16, 8], ['size', 24, 8]]],
  [VfioBitmap as StructCodec<never>, 24, [['pgsize', 0, 8], ['size', 8, 8], ['data', 16, 8]]],
  [Type1DmaUnmap as StructCodec<never>, 24, [['argsz', 0, 4], ['flags', 4, 4], ['iova', 8, 8], ['size', 16, 8]]],
  [Type1DirtyBitmap as StructCodec<never>, 8, [['argsz', 0, 4], ['flags', 4, 4]]],
  [Type1DirtyBitmapGet as StructCodec<never>, 40, [['iova', 0, 8], ['size', 8, 8], ['pgsize', 16, 8], ['bitmap_size', 24, 8], ['data', 32, 8]]],
  [IommuDestroy as StructCodec<never>, 8, [['size', 0, 4], ['id', 4, 4]]],
  [IoasAlloc as StructCodec<never>, 12, [['size', 0, 4], ['flags', 4, 4], ['out_ioas_id', 8, 4]]],
  [IoasMap as StructCodec<never>, 40, [['size', 0, 4], ['flags', 4, 4], ['ioas_id', 8, 4], ['__reserved', 12, 4], ['user_va', 16, 8], ['length', 24, 8], ['iova', 32, 8]]],
  [IoasUnmap as StructCodec<never>, 24, [['size', 0, 4], ['ioas_id', 4, 4], ['iova', 8, 8], ['length', 16, 8]]],
  [HwptAlloc as StructCodec<never>, 48, [['size', 0, 4], ['flags', 4, 4], ['dev_id', 8, 4], ['pt_id', 12, 4], ['out_hwpt_id', 16, 4], ['__reserved', 20, 4], ['data_type', 24, 4], ['data_len', 28, 4], ['data_uptr', 32, 8], ['fault_id', 40, 4], ['__reserved2', 44, 4]]],
  [HwInfo as StructCodec<never>, 40, [['size', 0, 4], ['flags', 4, 4], ['dev_id', 8, 4], ['data_len', 12, 4], ['data_uptr', 16, 8], ['out_data_type', 24, 4], ['out_max_pasid_log2_and_reserved', 28, 4], ['out_capabilities', 32, 8]]],
  [HwptSetDirtyTracking as StructCodec<never>, 16, [['size', 0, 4], ['flags', 4, 4], ['hwpt_id', 8, 4], ['__reserved', 12, 4]]],
  [HwptGetDirtyBitmap as StructCodec<never>, 48, [['size', 0, 4], ['hwpt_id', 4, 4], ['flags', 8, 4], ['__reserved', 12, 4], ['iova', 16, 8], ['length', 24, 8], ['page_size', 32, 8], ['data', 40, 8]]],
  [IommuTestMockDomain as StructCodec<never>, 72, [['size', 0, 4], ['op', 4, 4], ['id', 8, 4], ['__reserved', 12, 4], ['out_stdev_id', 16, 4], ['out_hwpt_id', 20, 4], ['out_idev_id', 24, 4], ['dev_flags', 28, 4], ['last', 64, 8]]],
  [IommuTestDirty as StructCodec<never>, 72, [['size', 0, 4], ['op', 4, 4], ['id', 8, 4], ['__reserved', 12, 4], ['flags', 16, 4], ['iova', 24, 8], ['length', 32, 8], ['page_size', 40, 8], ['uptr', 48, 8], ['out_nr_dirty', 56, 8], ['last', 64, 8]]],
];

const width: Record<string, number> = { u16: 2, u32: 4, s32: 4, u64: 8 };
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('ioctl numbers and flags', () => {
  it('type1: GET_INFO 0x3b70, MAP 0x3b71, UNMAP 0x3b72, DIRTY_PAGES 0x3b75 (the number of DEVICE_FEATURE)', () => {
    expect(VfioIommuIoctl).toEqual({ GET_INFO: 0x3b70, MAP_DMA: 0x3b71, UNMAP_DMA: 0x3b72, DIRTY_PAGES: 0x3b75 });
    expect(VfioIommuIoctl.DIRTY_PAGES).toBe(VfioIoctl.DEVICE_FEATURE);
    expect(Type1InfoFlags).toEqual({ PGSIZES: 1, CAPS: 2 });
    expect(Type1CapId).toEqual({ IOVA_RANGE: 1, MIGRATION: 2, DMA_AVAIL: 3 });
    expect(DmaMapFlags).toEqual({ READ: 1, WRITE: 2, VADDR: 4 });
    expect(DmaUnmapFlags).toEqual({ GET_DIRTY_BITMAP: 1, ALL: 2, VADDR: 4 });
    expect(DirtyPagesFlags).toEqual({ START: 1, STOP: 2, GET_BITMAP: 4 });
    expect(DIRTY_BITMAP_SIZE_MAX).toBe(268435456);
    expect(dirtyBitmapBytes(2 ** 31 - 1)).toBe(DIRTY_BITMAP_SIZE_MAX);
    expect([dirtyBitmapBytes(1), dirtyBitmapBytes(64), dirtyBitmapBytes(65), dirtyBitmapBytes(262144)]).toEqual([8, 8, 16, 32768]);
  });
  it('iommufd: 0x3b80…0x3b8c and TEST_CMD 0x3ba0, with each command\'s minimum size', () => {
    expect(IommufdIoctl).toEqual({
      DESTROY: 0x3b80,
      IOAS_ALLOC: 0x3b81,
      IOAS_MAP: 0x3b85,
      IOAS_UNMAP: 0x3b86,
      HWPT_ALLOC: 0x3b89,
      GET_HW_INFO: 0x3b8a,
      HWPT_SET_DIRTY_TRACKING: 0x3b8b,
      HWPT_GET_DIRTY_BITMAP: 0x3b8c,
      TEST_CMD: 0x3ba0,
    });
    expect(IommufdMinSize).toEqual({ 0x3b80: 8, 0x3b81: 12, 0x3b85: 40, 0x3b86: 24, 0x3b89: 24, 0x3b8a: 32, 0x3b8b: 16, 0x3b8c: 48, 0x3ba0: 72 });
    expect(IoasMapFlags).toEqual({ FIXED_IOVA: 1, WRITEABLE: 2, READABLE: 4 });
    expect(HwptAllocFlags).toEqual({ NEST_PARENT: 1, DIRTY_TRACKING: 2, FAULT_ID_VALID: 4 });
    expect(IommuHwCap).toEqual({ DIRTY_TRACKING: 1, PCI_PASID_EXEC: 2, PCI_PASID_PRIV: 4 });
    expect(HwptDirtyTrackingFlags.ENABLE).toBe(1);
    expect(HwptGetDirtyBitmapFlags.NO_CLEAR).toBe(1);
  });
  it('device DMA logging: features 6, 7, 8', () => {
    expect([VfioFeature.DMA_LOGGING_START, VfioFeature.DMA_LOGGING_STOP, VfioFeature.DMA_LOGGING_REPORT]).toEqual([6, 7, 8]);
  });
});

describe('struct layouts', () => {
  for (const [codec, size, fields] of LAYOUTS) {
    it(`${codec.name}: ${size} bytes, fields where the table puts them`, () => {
      expect(codec.size).toBe(size);
      expect(codec.fields.map((f) => [f.name, f.offset, width[f.kind]])).toEqual(fields);
    });
  }

  it('hand-written bytes: GET_BITMAP argument (dirty_bitmap + dirty_bitmap_get)', () => {
    const buf = new Uint8Array(48);
    Type1DirtyBitmap.encode({ argsz: 48, flags: DirtyPagesFlags.GET_BITMAP }, buf);
    Type1DirtyBitmapGet.encode({ iova: 0x100000n, size: 0x200000n, pgsize: 4096n, bitmap_size: 64n, data: 0x7f0012345000n }, buf, 8);
    expect(hex(buf)).toBe(
      '30000000' + '04000000' + '0000100000000000' + '0000200000000000' + '0010000000000000' + '4000000000000000' + '00503412007f0000',
    );
  });
  it('hand-written bytes: UNMAP_DMA with a vfio_bitmap', () => {
    const buf = new Uint8Array(48);
    Type1DmaUnmap.encode({ argsz: 48, flags: DmaUnmapFlags.GET_DIRTY_BITMAP, iova: 0x1000n, size: 0x4000n }, buf);
    VfioBitmap.encode({ pgsize: 4096n, size: 8n, data: 0xdead000n }, buf, 24);
    expect(hex(buf)).toBe('30000000' + '01000000' + '0010000000000000' + '0040000000000000' + '0010000000000000' + '0800000000000000' + '00d0ea0d00000000');
  });
  it('hand-written bytes: HWPT_GET_DIRTY_BITMAP and SET_DIRTY_TRACKING', () => {
    const get = HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: 7, flags: 1, __reserved: 0, iova: 0x1000000n, length: 0x8000n, page_size: 2048n, data: 0x1122334455n });
    expect(hex(get)).toBe('30000000' + '07000000' + '01000000' + '00000000' + '0000000100000000' + '0080000000000000' + '0008000000000000' + '5544332211000000');
    expect(hex(HwptSetDirtyTracking.encode({ size: 16, flags: 1, hwpt_id: 3, __reserved: 0 }))).toBe('10000000010000000300000000000000');
  });

  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fcTest.prop([u32, u32, u64, u64, u64])('Type1DmaMap round-trips and puts each field at its offset', (argsz, flags, vaddr, iova, size) => {
    const bytes = Type1DmaMap.encode({ argsz, flags, vaddr, iova, size });
    expect(Type1DmaMap.decode(bytes)).toEqual({ argsz, flags, vaddr, iova, size });
    const view = new DataView(bytes.buffer);
    expect([view.getUint32(0, true), view.getUint32(4, true), view.getBigUint64(8, true), view.getBigUint64(16, true), view.getBigUint64(24, true)]).toEqual([argsz, flags, vaddr, iova, size]);
  });
  fcTest.prop([u32, u32, u32, u64, u64, u64, u64])('HwptGetDirtyBitmap round-trips', (size, hwpt_id, flags, iova, length, page_size, data) => {
    const value = { size, hwpt_id, flags, __reserved: 0, iova, length, page_size, data };
    expect(HwptGetDirtyBitmap.decode(HwptGetDirtyBitmap.encode(value))).toEqual(value);
  });
  fcTest.prop([u64, u64, u64, u64, u64])('Type1DirtyBitmapGet round-trips', (iova, size, pgsize, bitmap_size, data) => {
    const value = { iova, size, pgsize, bitmap_size, data };
    expect(Type1DirtyBitmapGet.decode(Type1DirtyBitmapGet.encode(value))).toEqual(value);
  });
});

describe('GET_INFO capability chain', () => {
  it('the kernel order MIGRATION, DMA_AVAIL (padded to 16), IOVA_RANGE at 24, 56, 72', () => {
    const caps = encodeType1InfoCaps(
      { migration: { flags: 0, pgsizeBitmap: 4096n, maxDirtyBitmapSize: 268435456n }, dmaAvail: 65533, iovaRanges: [{ start: 0n, end: 0xfedfffffn }] },
      24,
    );
    expect(caps.byteLength).toBe(32 + 16 + 32);
    expect(hex(caps.subarray(0, 32))).toBe('0200' + '0100' + '38000000' + '00000000' + '00000000' + '0010000000000000' + '0000001000000000');
    expect(hex(caps.subarray(32, 48))).toBe('0300' + '0100' + '48000000' + 'fdff0000' + '00000000');
    expect(hex(caps.subarray(48, 64))).toBe('0100' + '0100' + '00000000' + '01000000' + '00000000');
    const buf = new Uint8Array(24 + caps.byteLength);
    Type1Info.encode({ argsz: buf.byteLength, flags: 3, iova_pgsizes: 0x40201000n, cap_offset: 24, pad: 0 }, buf);
    buf.set(caps, 24);
    expect(parseType1Info(buf)).toEqual({
      flags: 3,
      iovaPgsizes: 0x40201000n,
      migration: { flags: 0, pgsizeBitmap: 4096n, maxDirtyBitmapSize: 268435456n },
      dmaAvail: 65533,
      iovaRanges: [{ start: 0n, end: 0xfedfffffn }],
      unknownCaps: [],
    });
  });
  it('no caps copied when argsz was too small (cap_offset 0); the compat container has no MIGRATION cap', () => {
    const small = Type1Info.encode({ argsz: 104, flags: 3, iova_pgsizes: 4096n, cap_offset: 0, pad: 0 });
    expect(parseType1Info(small).migration).toBeUndefined();
    const caps = encodeType1InfoCaps({ dmaAvail: 10, iovaRanges: [] }, 24);
    const buf = new Uint8Array(24 + caps.byteLength);
    Type1Info.encode({ argsz: buf.byteLength, flags: 3, iova_pgsizes: 4096n, cap_offset: 24, pad: 0 }, buf);
    buf.set(caps, 24);
    expect(parseType1Info(buf)).toMatchObject({ migration: undefined, dmaAvail: 10, iovaRanges: [] });
  });
  it('a looping or out-of-bounds chain is refused', () => {
    const buf = new Uint8Array(40);
    Type1Info.encode({ argsz: 40, flags: 3, iova_pgsizes: 4096n, cap_offset: 24, pad: 0 }, buf);
    Type1CapDmaAvail.encode({ id: 3, version: 1, next: 24, avail: 1 }, buf, 24);
    expect(() => parseType1Info(buf)).toThrow(CapabilityChainError);
    Type1CapDmaAvail.encode({ id: 3, version: 1, next: 36, avail: 1 }, buf, 24);
    expect(() => parseType1Info(buf)).toThrow(/outside/);
  });
});

/** A syscall layer that records every ioctl argument and answers 0; addresses are fixed. */
class RecordingSyscalls implements Syscalls {
  readonly calls: { fd: number; request: number; arg: string }[] = [];
  readonly addresses = new Map<Uint8Array, bigint>();
  open(): number {
    return -1;
  }
  close(): number {
    return 0;
  }
  ioctl(fd: number, request: number, arg: Uint8Array | null): number {
    this.calls.push({ fd, request, arg: arg === null ? '' : hex(arg) });
    return 0;
  }
  ioctlValue(): number {
    return 0;
  }
  pread(): number {
    return 0;
  }
  pwrite(): number {
    return 0;
  }
  read(): Promise<number> {
    return Promise.resolve(0);
  }
  write(): Promise<number> {
    return Promise.resolve(0);
  }
  addressOf(bytes: Uint8Array): bigint {
    const a = 0x7f0000000000n + BigInt(this.addresses.size) * 0x100000n;
    this.addresses.set(bytes, a);
    return a;
  }
}

describe('wrappers hand the kernel the documented bytes', () => {
  it('type1: MAP_DMA, UNMAP_DMA(+bitmap), DIRTY_PAGES START/STOP/GET_BITMAP', () => {
    const sys = new RecordingSyscalls();
    const iommu = new Type1Iommu(sys, 5, '/dev/vfio/vfio');
    iommu.mapDma(0x100000, new Uint8Array(8192));
    iommu.startDirtyTracking();
    iommu.getDirtyBitmap(0x100000, 8192, 4096, new Uint8Array(8));
    iommu.unmapDmaGetBitmap(0x100000, 8192, 4096, new Uint8Array(8));
    iommu.unmapDma(0x200000, 4096);
    iommu.stopDirtyTracking();
    expect(sys.calls.map((c) => [c.fd, c.request.toString(16), c.arg])).toEqual([
      [5, '3b71', '20000000' + '03000000' + '00000000007f0000' + '0000100000000000' + '0020000000000000'],
      [5, '3b75', '08000000' + '01000000'],
      [5, '3b75', '30000000' + '04000000' + '0000100000000000' + '0020000000000000' + '0010000000000000' + '0800000000000000' + '00001000007f0000'],
      [5, '3b72', '30000000' + '01000000' + '0000100000000000' + '0020000000000000' + '0010000000000000' + '0800000000000000' + '00002000007f0000'],
      [5, '3b72', '18000000' + '00000000' + '0000200000000000' + '0010000000000000'],
      [5, '3b75', '08000000' + '02000000'],
    ]);
  });
  it('iommufd: IOAS_MAP, HWPT_ALLOC(DIRTY_TRACKING), SET_DIRTY_TRACKING, GET_DIRTY_BITMAP, GET_HW_INFO', () => {
    const sys = new RecordingSyscalls();
    const iommu = new IommufdIommu(sys, 6, '/dev/iommu');
    iommu.mapIoas(2, 0x1000000, new Uint8Array(4096));
    iommu.allocHwpt(1, 2);
    iommu.setDirtyTracking(3, true);
    iommu.getDirtyBitmap(3, 0x1000000, 4096, 4096, new Uint8Array(8));
    iommu.getHwInfo(1);
    expect(sys.calls.map((c) => [c.request.toString(16), c.arg])).toEqual([
      ['3b85', '28000000' + '07000000' + '02000000' + '00000000' + '00000000007f0000' + '0010000000000000' + '0000000100000000'],
      ['3b89', '30000000' + '02000000' + '01000000' + '02000000' + '00000000'.repeat(4) + '0000000000000000' + '00000000'.repeat(2)],
      ['3b8b', '10000000' + '01000000' + '03000000' + '00000000'],
      ['3b8c', '30000000' + '03000000' + '00000000' + '00000000' + '0000000100000000' + '0010000000000000' + '0010000000000000' + '00001000007f0000'],
      ['3b8a', '28000000' + '00000000' + '01000000' + '00000000' + '0000000000000000' + '00000000' + '00000000' + '0000000000000000'],
    ]);
  });
  it('device DMA logging: PROBE|START, SET START with a ranges pointer, GET REPORT, SET STOP', () => {
    const sys = new RecordingSyscalls();
    const logging = new DeviceDmaLogging(sys, 9, 'dev0', () => {});
    expect(logging.probe().supported).toBe(true);
    expect(logging.start(4096, [{ iova: 0, length: 0x100000 }, { iova: 0x100000000, length: 0x200000 }])).toBe(4096);
    logging.report(0, 0x100000, 4096, new Uint8Array(32));
    logging.stop();
    expect(sys.calls.map((c) => [c.request.toString(16), c.arg])).toEqual([
      ['3b75', '08000000' + '06000400'],
      ['3b75', '20000000' + '06000200' + '0010000000000000' + '02000000' + '00000000' + '00000000007f0000'],
      ['3b75', '28000000' + '08000100' + '0000000000000000' + '0000100000000000' + '0010000000000000' + '00001000007f0000'],
      ['3b75', '08000000' + '07000200'],
    ]);
  });
});
