// dma-dirty.guest.mjs — DMA dirty tracking on the real kernel (Linux 6.12, mtty) against the
// emulated kernel of @savevm/vfio: the type1 container's GET_INFO migration capability,
// DIRTY_PAGES START/GET_BITMAP/STOP and UNMAP_DMA with the bitmap; device DMA logging
// PROBE/START/REPORT/STOP on mtty; iommufd with an mdev (no IOMMU tracking); and the iommufd
// selftest mock domain (CONFIG_IOMMUFD_TEST), whose HWPT dirty bits are compared with the
// emulated HWPT's. Every scenario runs on both backends and writes one transcript line per
// step (errno or OK, plus what came back); the transcripts must match. Lines marked
// informational are where the kernel leaves a choice to the driver (mtty answers 0 to
// everything) and the emulated device chooses otherwise (docs/design/vfio-dirty-tracking.md §5).
import assert from 'node:assert/strict';
import {
  DirtyPagesFlags,
  DmaLoggingControl,
  DmaLoggingRange,
  DmaLoggingReport,
  DmaUnmapFlags,
  HwInfo,
  HwptAlloc,
  HwptAllocFlags,
  HwptGetDirtyBitmap,
  HwptSetDirtyTracking,
  IoasAlloc,
  IoasMap,
  IoasMapFlags,
  IoasUnmap,
  IommuDestroy,
  IommuTestDirty,
  IommuTestMockDomain,
  IommuTestOp,
  IommufdContext,
  IommufdIoctl,
  LibcSyscalls,
  MOCK_APERTURE_START,
  Type1DirtyBitmap,
  Type1DirtyBitmapGet,
  Type1DmaMap,
  Type1DmaUnmap,
  Type1Info,
  VfioBitmap,
  VfioContainer,
  VfioFeature,
  VfioFeatureFlags,
  VfioIommuIoctl,
  VfioIoctl,
  allocateAlignedBuffer,
  encodeDeviceFeature,
  errnoName,
  parseType1Info,
} from '@savevm/vfio';
import { EmulatedVfioKernel } from '@savevm/vfio/emulated';

export const timeoutMs = 60_000;

const MiB = 1 << 20;
const IOVA = 0x100000000n;
/** An address below mmap_min_addr: a user address nothing is ever mapped at (EFAULT). */
const UNMAPPED = 0x1000n;
/** An address past the end of user space (access_ok fails: EINVAL where the kernel checks it). */
const NOT_USER = 0xffff800000000000n;
const EMULATED_MTTY = { migrationFlags: 0x7, preCopyEmptyRead: 'zero', stateSize: 48, dmaLogging: true };

const outcome = (r) => (r < 0 ? errnoName(-r) : 'OK');
const bitsSet = (bytes) => bytes.reduce((n, b) => n + [...Array(8).keys()].filter((i) => (b & (1 << i)) !== 0).length, 0);

/** Compares two transcripts; `informational` maps a step name to why a difference is allowed. */
function compare(t, title, kernel, emulated, informational = {}) {
  const lines = [];
  let failures = 0;
  for (let i = 0; i < Math.max(kernel.length, emulated.length); i++) {
    const k = kernel[i] ?? '(none)';
    const e = emulated[i] ?? '(none)';
    if (k === e) {
      lines.push(`  ${k}`);
      continue;
    }
    const step = k.split(':')[0];
    const why = informational[step];
    lines.push(`! kernel:   ${k}`, `! emulated: ${e}${why ? `   (informational: ${why})` : ''}`);
    if (!why) failures++;
  }
  t.report(title, lines, { console: failures > 0 });
  assert.equal(failures, 0, `${failures} step(s) differ between the kernel and the emulated device (see the report)`);
}

// ---- the two backends ---------------------------------------------------------------------------

/** mtty-2 through a type1 container on the real kernel. */
function kernelType1(t) {
  const sys = new LibcSyscalls();
  const mdev = t.createMdev('mtty-2');
  const container = VfioContainer.open({ syscalls: sys });
  t.defer(() => container.close());
  const device = container.openDevice({ name: mdev.uuid, group: mdev.group });
  return { sys, container, device };
}

/** The emulated device, set up like mtty-2 (with DMA logging, as mtty has), through a type1 container. */
function emulatedType1(t) {
  const kernel = new EmulatedVfioKernel();
  const node = kernel.addDevice(EMULATED_MTTY);
  const container = VfioContainer.open({ syscalls: kernel });
  t.defer(() => container.close());
  const device = container.openDevice(node);
  return { sys: kernel, container, device };
}

// ---- type1 ----------------------------------------------------------------------------------------

function type1Transcript({ sys, container }) {
  const lines = [];
  const fd = container.fd;
  const ram = allocateAlignedBuffer(MiB);
  const bitmap = allocateAlignedBuffer(32).fill(0);
  const note = (step, r, extra = '') => lines.push(`${step}: ${outcome(r)}${r >= 0 && extra ? ` ${extra}` : ''}`);
  const info = () => {
    const buf = new Uint8Array(256);
    Type1Info.encode({ argsz: 256, flags: 0, iova_pgsizes: 0n, cap_offset: 0, pad: 0 }, buf);
    const r = sys.ioctl(fd, VfioIommuIoctl.GET_INFO, buf);
    if (r < 0) return [r, ''];
    const i = parseType1Info(buf);
    const m = i.migration;
    return [r, `flags=${i.flags} pgsizes=0x${i.iovaPgsizes.toString(16)} migration=${m ? `${m.flags}/${m.pgsizeBitmap}/${m.maxDirtyBitmapSize}` : 'none'} dma_avail=${i.dmaAvail} iova_ranges=${i.iovaRanges?.length ?? 'none'}`];
  };
  const map = (iova, size, flags = 3, bytes = ram) =>
    sys.ioctl(fd, VfioIommuIoctl.MAP_DMA, Type1DmaMap.encode({ argsz: 32, flags, vaddr: sys.addressOf(bytes), iova, size }));
  const dirty = (flags, argsz = 8) => sys.ioctl(fd, VfioIommuIoctl.DIRTY_PAGES, Type1DirtyBitmap.encode({ argsz, flags }));
  const get = ({ iova = IOVA, size = BigInt(MiB), pgsize = 4096n, bitmapSize = 32n, data = sys.addressOf(bitmap), argsz = 48 } = {}) => {
    bitmap.fill(0);
    const buf = new Uint8Array(48);
    Type1DirtyBitmap.encode({ argsz, flags: DirtyPagesFlags.GET_BITMAP }, buf);
    Type1DirtyBitmapGet.encode({ iova, size, pgsize, bitmap_size: bitmapSize, data }, buf, 8);
    return sys.ioctl(fd, VfioIommuIoctl.DIRTY_PAGES, buf);
  };
  const unmap = ({ iova = IOVA, size = BigInt(MiB), flags = 0, bitmapData } = {}) => {
    bitmap.fill(0);
    const buf = new Uint8Array(48);
    Type1DmaUnmap.encode({ argsz: flags & DmaUnmapFlags.GET_DIRTY_BITMAP ? 48 : 24, flags, iova, size }, buf);
    if (flags & DmaUnmapFlags.GET_DIRTY_BITMAP) VfioBitmap.encode({ pgsize: 4096n, size: 32n, data: bitmapData ?? sys.addressOf(bitmap) }, buf, 24);
    const r = sys.ioctl(fd, VfioIommuIoctl.UNMAP_DMA, buf);
    return [r, `size=${Type1DmaUnmap.decode(buf).size}`];
  };

  note('GET_INFO', ...info());
  note('MAP_DMA 1 MiB', map(IOVA, BigInt(MiB)));
  note('MAP_DMA again (overlap)', map(IOVA, BigInt(MiB)));
  note('MAP_DMA no READ/WRITE', map(0x200000000n, 4096n, 0));
  note('MAP_DMA misaligned iova', map(0x200000800n, 4096n));
  note('MAP_DMA size 0', map(0x200000000n, 0n));
  note('GET_INFO after a map', ...info());
  note('GET_BITMAP before START', get());
  note('DIRTY_PAGES no flag', dirty(0));
  note('DIRTY_PAGES two flags', dirty(DirtyPagesFlags.START | DirtyPagesFlags.STOP));
  note('DIRTY_PAGES unknown flag', dirty(8));
  note('DIRTY_PAGES argsz 7', dirty(DirtyPagesFlags.START, 7));
  note('DIRTY_PAGES START', dirty(DirtyPagesFlags.START));
  note('DIRTY_PAGES START again', dirty(DirtyPagesFlags.START));
  note('GET_BITMAP whole mapping', get(), `bits=${bitsSet(bitmap)}`);
  note('GET_BITMAP argsz 47', get({ argsz: 47 }));
  note('GET_BITMAP cuts the mapping', get({ size: BigInt(MiB / 2), bitmapSize: 16n }));
  note('GET_BITMAP pgsize 8192', get({ pgsize: 8192n, bitmapSize: 16n }));
  note('GET_BITMAP bitmap too small', get({ bitmapSize: 16n }));
  note('GET_BITMAP bitmap of 0 bytes', get({ bitmapSize: 0n }));
  note('GET_BITMAP size 0', get({ size: 0n }));
  note('GET_BITMAP misaligned iova', get({ iova: IOVA + 512n }));
  note('GET_BITMAP iova + size overflows', get({ iova: 2n ** 64n - 4096n, size: 8192n }));
  note('GET_BITMAP not a user address', get({ data: NOT_USER }));
  note('GET_BITMAP unmapped user address', get({ data: UNMAPPED }));
  note('UNMAP_DMA GET_DIRTY_BITMAP|ALL', unmap({ flags: DmaUnmapFlags.GET_DIRTY_BITMAP | DmaUnmapFlags.ALL })[0]);
  note('UNMAP_DMA GET_DIRTY_BITMAP cuts the mapping', ...unmap({ size: BigInt(MiB / 2), flags: DmaUnmapFlags.GET_DIRTY_BITMAP }));
  note('UNMAP_DMA GET_DIRTY_BITMAP unmapped bitmap', ...unmap({ flags: DmaUnmapFlags.GET_DIRTY_BITMAP, bitmapData: UNMAPPED }));
  const [r, size] = unmap({ flags: DmaUnmapFlags.GET_DIRTY_BITMAP });
  note('UNMAP_DMA GET_DIRTY_BITMAP', r, `${size} bits=${bitsSet(bitmap)}`);
  note('UNMAP_DMA nothing mapped there', ...unmap());
  note('DIRTY_PAGES STOP', dirty(DirtyPagesFlags.STOP));
  note('DIRTY_PAGES STOP again', dirty(DirtyPagesFlags.STOP));
  note('MAP_DMA again', map(IOVA, BigInt(MiB)));
  note('GET_BITMAP after STOP', get());
  note('UNMAP_DMA GET_DIRTY_BITMAP after STOP', ...unmap({ flags: DmaUnmapFlags.GET_DIRTY_BITMAP }));
  note('UNMAP_DMA', ...unmap());
  return lines;
}

export async function type1DirtyTrackingOnMtty(t) {
  const kernel = type1Transcript(kernelType1(t));
  const emulated = type1Transcript(emulatedType1(t));
  compare(t, 'type1: GET_INFO, MAP/UNMAP_DMA, DIRTY_PAGES on mtty vs the emulated container', kernel, emulated);
  // The facts the policy builds on, on the real kernel.
  assert.match(kernel[0], /migration=0\/4096\/268435456 /);
  assert.match(kernel[0], /iova_ranges=none$/);
  assert.match(kernel.find((l) => l.startsWith('GET_BITMAP whole mapping')), /bits=0$/, 'an mtty-only container reports nothing dirty');
}

// ---- device DMA logging -------------------------------------------------------------------------

function loggingTranscript({ sys, device }) {
  const lines = [];
  const note = (step, r, extra = '') => lines.push(`${step}: ${outcome(r)}${r >= 0 && extra ? ` ${extra}` : ''}`);
  const feature = (flags, payload = new Uint8Array(0)) => {
    const buf = encodeDeviceFeature(flags, payload);
    const r = sys.ioctl(device.fd, VfioIoctl.DEVICE_FEATURE, buf);
    return [r, buf];
  };
  const { SET, GET, PROBE } = VfioFeatureFlags;
  const ranges = allocateAlignedBuffer(257 * 16);
  const start = (list, { pageSize = 4096n, count = list.length, data } = {}) => {
    ranges.fill(0);
    list.forEach((r, i) => DmaLoggingRange.encode(r, ranges, i * 16));
    const control = DmaLoggingControl.encode({ page_size: pageSize, num_ranges: count, __reserved: 0, ranges: data ?? sys.addressOf(ranges) });
    const [r, buf] = feature(SET | VfioFeature.DMA_LOGGING_START, control);
    return [r, `page_size=${r >= 0 ? DmaLoggingControl.decode(buf, 8).page_size : '-'}`];
  };
  const bitmap = allocateAlignedBuffer(32);
  const report = ({ iova = IOVA, length = BigInt(MiB), pageSize = 4096n, data, flags = GET } = {}) => {
    bitmap.fill(0x5a);
    const [r] = feature(flags | VfioFeature.DMA_LOGGING_REPORT, DmaLoggingReport.encode({ iova, length, page_size: pageSize, bitmap: data ?? sys.addressOf(bitmap) }));
    return [r, `bitmap ${bitmap.every((b) => b === 0x5a) ? 'untouched' : 'written'}`];
  };
  const one = [{ iova: IOVA, length: BigInt(MiB) }];

  note('PROBE DMA_LOGGING_START', feature(PROBE | VfioFeature.DMA_LOGGING_START)[0]);
  note('PROBE|SET DMA_LOGGING_START', feature(PROBE | SET | VfioFeature.DMA_LOGGING_START)[0]);
  note('PROBE|GET DMA_LOGGING_REPORT', feature(PROBE | GET | VfioFeature.DMA_LOGGING_REPORT)[0]);
  note('GET DMA_LOGGING_START', feature(GET | VfioFeature.DMA_LOGGING_START, new Uint8Array(24))[0]);
  note('SET DMA_LOGGING_REPORT', feature(SET | VfioFeature.DMA_LOGGING_REPORT, new Uint8Array(32))[0]);
  note('DMA_LOGGING_STOP without SET', feature(VfioFeature.DMA_LOGGING_STOP)[0]);
  note('REPORT before START', ...report());
  note('START 0 ranges', ...start([]));
  note('START 257 ranges', ...start(Array.from({ length: 257 }, (_, i) => ({ iova: BigInt(i) * 4096n, length: 4096n }))));
  note('START misaligned iova', ...start([{ iova: IOVA + 512n, length: 4096n }]));
  note('START misaligned length', ...start([{ iova: IOVA, length: 4000n }]));
  note('START iova + length overflows', ...start([{ iova: 2n ** 64n - 4096n, length: 8192n }]));
  note('START overlapping ranges', ...start([{ iova: IOVA, length: 8192n }, { iova: IOVA + 4096n, length: 4096n }]));
  note('START unmapped ranges pointer', ...start(one, { data: UNMAPPED }));
  note('START payload too short', feature(SET | VfioFeature.DMA_LOGGING_START, new Uint8Array(16))[0]);
  note('START', ...start(one));
  note('START again', ...start(one));
  note('REPORT', ...report());
  note('REPORT page 2048', ...report({ pageSize: 2048n }));
  note('REPORT page 12288', ...report({ pageSize: 12288n }));
  note('REPORT page 65536', ...report({ pageSize: 65536n }));
  note('REPORT iova + length overflows', ...report({ iova: 2n ** 64n - 4096n, length: 8192n }));
  note('REPORT unmapped bitmap', ...report({ data: UNMAPPED }));
  note('REPORT payload too short', feature(GET | VfioFeature.DMA_LOGGING_REPORT, new Uint8Array(24))[0]);
  note('STOP', feature(SET | VfioFeature.DMA_LOGGING_STOP)[0]);
  note('STOP again', feature(SET | VfioFeature.DMA_LOGGING_STOP)[0]);
  note('REPORT after STOP', ...report());
  return lines;
}

export async function dmaLoggingOnMtty(t) {
  const kernel = loggingTranscript(kernelType1(t));
  const emulated = loggingTranscript(emulatedType1(t));
  const driver = "the driver's choice: mtty's log ops answer 0 to everything, the emulated device refuses a REPORT or a second START while it is not in the state for it";
  compare(t, 'device DMA logging on mtty vs the emulated device', kernel, emulated, {
    'REPORT before START': driver,
    'START again': driver,
    'REPORT after STOP': driver,
  });
  assert.equal(kernel[0], 'PROBE DMA_LOGGING_START: OK', 'mtty has DMA logging');
  assert.match(kernel.find((l) => l.startsWith('REPORT:')), /bitmap untouched/, 'mtty reports nothing');
}

// ---- iommufd with an mdev --------------------------------------------------------------------------

function iommufdTranscript({ sys, context, device }) {
  const lines = [];
  const fd = context.fd;
  const note = (step, r, extra = '') => lines.push(`${step}: ${outcome(r)}${r >= 0 && extra ? ` ${extra}` : ''}`);
  const cmd = (request, bytes) => sys.ioctl(fd, request, bytes);
  const alloc = IoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 });
  note('IOAS_ALLOC', cmd(IommufdIoctl.IOAS_ALLOC, alloc));
  const ioas = IoasAlloc.decode(alloc).out_ioas_id;
  const ram = allocateAlignedBuffer(MiB);
  const map = (m = {}) =>
    cmd(
      IommufdIoctl.IOAS_MAP,
      IoasMap.encode({ size: 40, flags: IoasMapFlags.FIXED_IOVA | IoasMapFlags.READABLE | IoasMapFlags.WRITEABLE, ioas_id: ioas, __reserved: 0, user_va: sys.addressOf(ram), length: BigInt(MiB), iova: IOVA, ...m }),
    );
  note('IOAS_MAP', map());
  note('IOAS_MAP again (overlap)', map());
  note('IOAS_MAP no READABLE/WRITEABLE', map({ flags: IoasMapFlags.FIXED_IOVA, iova: IOVA * 2n }));
  note('IOAS_MAP unknown flag', map({ flags: 8 | IoasMapFlags.READABLE, iova: IOVA * 2n }));
  note('IOAS_MAP unknown IOAS', map({ ioas_id: 999, iova: IOVA * 2n }));
  note('IOAS_MAP size 39', cmd(IommufdIoctl.IOAS_MAP, IoasMap.encode({ size: 39, flags: 0, ioas_id: ioas, __reserved: 0, user_va: 0n, length: 0n, iova: 0n })));
  const attach = new Uint8Array(12);
  const view = new DataView(attach.buffer);
  view.setUint32(0, 12, true);
  view.setUint32(8, ioas, true);
  const ra = sys.ioctl(device.fd, VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT, attach);
  note('ATTACH to the IOAS', ra, `pt_id ${view.getUint32(8, true) === ioas ? 'is the IOAS' : 'changed'}`);
  const devId = context.deviceId(device);
  const hw = HwInfo.encode({ size: 40, flags: 0, dev_id: devId, data_len: 0, data_uptr: 0n, out_data_type: 0, out_max_pasid_log2_and_reserved: 0, out_capabilities: 0n });
  note('GET_HW_INFO of the mdev', cmd(IommufdIoctl.GET_HW_INFO, hw));
  const hwpt = HwptAlloc.encode({ size: 48, flags: HwptAllocFlags.DIRTY_TRACKING, dev_id: devId, pt_id: ioas, out_hwpt_id: 0, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0n, fault_id: 0, __reserved2: 0 });
  note('HWPT_ALLOC DIRTY_TRACKING for the mdev', cmd(IommufdIoctl.HWPT_ALLOC, hwpt));
  note('SET_DIRTY_TRACKING of the IOAS id', cmd(IommufdIoctl.HWPT_SET_DIRTY_TRACKING, HwptSetDirtyTracking.encode({ size: 16, flags: 1, hwpt_id: ioas, __reserved: 0 })));
  note('SET_DIRTY_TRACKING unknown flag', cmd(IommufdIoctl.HWPT_SET_DIRTY_TRACKING, HwptSetDirtyTracking.encode({ size: 16, flags: 2, hwpt_id: ioas, __reserved: 0 })));
  const bitmap = allocateAlignedBuffer(32).fill(0);
  const get = (g = {}) =>
    cmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: ioas, flags: 0, __reserved: 0, iova: IOVA, length: BigInt(MiB), page_size: 4096n, data: sys.addressOf(bitmap), ...g }));
  note('GET_DIRTY_BITMAP of the IOAS id', get());
  note('GET_DIRTY_BITMAP unknown flag', get({ flags: 2 }));
  note('GET_DIRTY_BITMAP reserved set', get({ __reserved: 1 }));
  note('GET_DIRTY_BITMAP size 47', get({ size: 47 }));
  const long = new Uint8Array(56);
  long.set(HwptGetDirtyBitmap.encode({ size: 56, hwpt_id: ioas, flags: 0, __reserved: 0, iova: IOVA, length: BigInt(MiB), page_size: 4096n, data: 0n }));
  long[50] = 1;
  note('GET_DIRTY_BITMAP non-zero bytes past the struct', cmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, long));
  note('DESTROY the attached IOAS', cmd(IommufdIoctl.DESTROY, IommuDestroy.encode({ size: 8, id: ioas })));
  note('DESTROY unknown id', cmd(IommufdIoctl.DESTROY, IommuDestroy.encode({ size: 8, id: 999 })));
  const unmap = (iova, length) => {
    const buf = IoasUnmap.encode({ size: 24, ioas_id: ioas, iova, length });
    const r = cmd(IommufdIoctl.IOAS_UNMAP, buf);
    return [r, `length=${IoasUnmap.decode(buf).length}`];
  };
  note('IOAS_UNMAP cutting the mapping', ...unmap(IOVA + 4096n, 4096n));
  note('IOAS_UNMAP nothing there', ...unmap(IOVA * 4n, 4096n));
  note('IOAS_UNMAP', ...unmap(IOVA, BigInt(MiB)));
  return lines;
}

export async function iommufdMdevHasNoIommuDirtyTracking(t) {
  const sysK = new LibcSyscalls();
  const mdev = t.createMdev('mtty-2');
  const ctxK = IommufdContext.open({ syscalls: sysK });
  t.defer(() => ctxK.close());
  const devK = ctxK.openDevice({ name: mdev.uuid, cdev: mdev.cdev });
  const kernel = iommufdTranscript({ sys: sysK, context: ctxK, device: devK });

  const emu = new EmulatedVfioKernel();
  const node = emu.addDevice(EMULATED_MTTY);
  const ctxE = IommufdContext.open({ syscalls: emu });
  t.defer(() => ctxE.close());
  const devE = ctxE.openDevice(node);
  const emulated = iommufdTranscript({ sys: emu, context: ctxE, device: devE });
  compare(t, 'iommufd with an mdev vs the emulated kernel', kernel, emulated);
  assert.equal(kernel.find((l) => l.startsWith('GET_HW_INFO')), 'GET_HW_INFO of the mdev: ENOENT');
}

// ---- the iommufd selftest mock domain -------------------------------------------------------------

/**
 * A HWPT with dirty tracking on the selftest mock domain: the mock device is dirtied through
 * IOMMU_TEST_OP_DIRTY (pages 3, 17 and 200 of a 1 MiB mapping, both 2 KiB mock pages of
 * each), the emulated HWPT through its device's DMA at the same IOVAs; GET_DIRTY_BITMAP at
 * 4 KiB must give the same bitmaps, the second read nothing, NO_CLEAR the same twice.
 */
export async function iommufdMockDomainDirtyBitmap(t) {
  const sys = new LibcSyscalls();
  const iommu = sys.open('/dev/iommu', 2);
  assert.ok(iommu >= 0, `open /dev/iommu: ${errnoName(-iommu)}`);
  t.defer(() => sys.close(iommu));
  const cmd = (request, bytes) => sys.ioctl(iommu, request, bytes);
  const alloc = IoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 });
  assert.equal(cmd(IommufdIoctl.IOAS_ALLOC, alloc), 0);
  const ioas = IoasAlloc.decode(alloc).out_ioas_id;
  const buffer = allocateAlignedBuffer(MiB);
  const iova = BigInt(MOCK_APERTURE_START);
  const m = IoasMap.encode({ size: 40, flags: IoasMapFlags.FIXED_IOVA | IoasMapFlags.READABLE | IoasMapFlags.WRITEABLE, ioas_id: ioas, __reserved: 0, user_va: sys.addressOf(buffer), length: BigInt(MiB), iova });
  assert.equal(outcome(cmd(IommufdIoctl.IOAS_MAP, m)), 'OK');
  const mock = IommuTestMockDomain.encode({ size: 72, op: IommuTestOp.MOCK_DOMAIN, id: ioas, __reserved: 0, out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0, dev_flags: 0, last: 0n });
  const rm = cmd(IommufdIoctl.TEST_CMD, mock);
  if (rm < 0) {
    assert.fail(`IOMMU_TEST_CMD MOCK_DOMAIN failed with ${errnoName(-rm)}: ${-rm === 25 ? 'this kernel has no CONFIG_IOMMUFD_TEST (the selftest mock domain)' : 'unexpected'}`);
  }
  const idev = IommuTestMockDomain.decode(mock).out_idev_id;
  const hw = HwInfo.encode({ size: 40, flags: 0, dev_id: idev, data_len: 0, data_uptr: 0n, out_data_type: 0, out_max_pasid_log2_and_reserved: 0, out_capabilities: 0n });
  assert.equal(outcome(cmd(IommufdIoctl.GET_HW_INFO, hw)), 'OK');
  const caps = HwInfo.decode(hw).out_capabilities;
  const hwptArg = HwptAlloc.encode({ size: 48, flags: HwptAllocFlags.DIRTY_TRACKING, dev_id: idev, pt_id: ioas, out_hwpt_id: 0, __reserved: 0, data_type: 0, data_len: 0, data_uptr: 0n, fault_id: 0, __reserved2: 0 });
  assert.equal(outcome(cmd(IommufdIoctl.HWPT_ALLOC, hwptArg)), 'OK');
  const hwpt = HwptAlloc.decode(hwptArg).out_hwpt_id;
  const mock2 = IommuTestMockDomain.encode({ size: 72, op: IommuTestOp.MOCK_DOMAIN, id: hwpt, __reserved: 0, out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0, dev_flags: 0, last: 0n });
  assert.equal(outcome(cmd(IommufdIoctl.TEST_CMD, mock2)), 'OK');
  const pages = [3, 17, 200];
  const lines = (backend) => {
    const out = [];
    const get = (flags) => {
      const bitmap = allocateAlignedBuffer(32).fill(0);
      const r = backend.get(flags, bitmap);
      return `${outcome(r)} bits [${[...Array(256).keys()].filter((i) => (bitmap[i >> 3] & (1 << (i & 7))) !== 0).join(',')}]`;
    };
    out.push(`GET_HW_INFO capabilities: ${backend.caps}`);
    out.push(`GET_DIRTY_BITMAP before tracking: ${get(0)}`);
    out.push(`SET_DIRTY_TRACKING ENABLE: ${outcome(backend.set(1))}`);
    out.push(`dirty pages ${pages.join(',')}: ${backend.dirty(pages)}`);
    out.push(`GET_DIRTY_BITMAP NO_CLEAR: ${get(1)}`);
    out.push(`GET_DIRTY_BITMAP NO_CLEAR again: ${get(1)}`);
    out.push(`GET_DIRTY_BITMAP: ${get(0)}`);
    out.push(`GET_DIRTY_BITMAP again: ${get(0)}`);
    out.push(`GET_DIRTY_BITMAP page 0: ${outcome(backend.getRaw({ page_size: 0n }))}`);
    out.push(`GET_DIRTY_BITMAP misaligned: ${outcome(backend.getRaw({ iova: iova + 512n }))}`);
    out.push(`GET_DIRTY_BITMAP overflow: ${outcome(backend.getRaw({ iova: 2n ** 64n - 4096n, length: 8192n }))}`);
    out.push(`SET_DIRTY_TRACKING off: ${outcome(backend.set(0))}`);
    return out;
  };
  const kernelBackend = {
    caps: caps.toString(),
    set: (flags) => cmd(IommufdIoctl.HWPT_SET_DIRTY_TRACKING, HwptSetDirtyTracking.encode({ size: 16, flags, hwpt_id: hwpt, __reserved: 0 })),
    getRaw: (g) => cmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: hwpt, flags: 0, __reserved: 0, iova, length: BigInt(MiB), page_size: 4096n, data: 0n, ...g })),
    get: (flags, bitmap) => cmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: hwpt, flags, __reserved: 0, iova, length: BigInt(MiB), page_size: 4096n, data: sys.addressOf(bitmap) })),
    dirty: (list) => {
      // both 2 KiB mock pages of each 4 KiB page, as the selftest passes the mock IO page size
      const marks = allocateAlignedBuffer(64).fill(0);
      for (const p of list) for (const half of [0, 1]) marks[(2 * p + half) >> 3] |= 1 << ((2 * p + half) & 7);
      const d = IommuTestDirty.encode({ size: 72, op: IommuTestOp.DIRTY, id: hwpt, __reserved: 0, flags: 0, iova, length: BigInt(MiB), page_size: 2048n, uptr: sys.addressOf(marks), out_nr_dirty: 0n, last: 0n });
      const r = cmd(IommufdIoctl.TEST_CMD, d);
      return r < 0 ? errnoName(-r) : `OK ${IommuTestDirty.decode(d).out_nr_dirty / 2n} pages`;
    },
  };
  const kernel = lines(kernelBackend);

  const emu = new EmulatedVfioKernel();
  const node = emu.addDevice({ ...EMULATED_MTTY, dmaLogging: false, iommu: 'physical', iommuDirtyTracking: true });
  const ctx = IommufdContext.open({ syscalls: emu });
  t.defer(() => ctx.close());
  const dev = ctx.openDevice(node);
  const eIoas = ctx.iommu.allocIoas();
  const eRam = allocateAlignedBuffer(MiB);
  ctx.iommu.mapIoas(eIoas, iova, eRam);
  const eHwpt = ctx.iommu.allocHwpt(ctx.deviceId(dev), eIoas, HwptAllocFlags.DIRTY_TRACKING);
  ctx.attach(dev, eHwpt);
  const ecmd = (request, bytes) => emu.ioctl(ctx.fd, request, bytes);
  const emulated = lines({
    caps: ctx.iommu.getHwInfo(ctx.deviceId(dev)).capabilities.toString(),
    set: (flags) => ecmd(IommufdIoctl.HWPT_SET_DIRTY_TRACKING, HwptSetDirtyTracking.encode({ size: 16, flags, hwpt_id: eHwpt, __reserved: 0 })),
    getRaw: (g) => ecmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: eHwpt, flags: 0, __reserved: 0, iova, length: BigInt(MiB), page_size: 4096n, data: 0n, ...g })),
    get: (flags, bitmap) => ecmd(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, HwptGetDirtyBitmap.encode({ size: 48, hwpt_id: eHwpt, flags, __reserved: 0, iova, length: BigInt(MiB), page_size: 4096n, data: emu.addressOf(bitmap) })),
    dirty: (list) => {
      for (const p of list) assert.ok(node.model.dma.writeAt(Number(iova) + p * 4096, new Uint8Array(8)));
      return `OK ${list.length} pages`;
    },
  });
  compare(t, 'iommufd HWPT dirty tracking: the selftest mock domain vs the emulated HWPT', kernel, emulated);
}
