import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Errno,
  FdVfioDevice,
  LibcSyscalls,
  RegionMapRefusedError,
  VfioError,
  VfioRegionFlags,
  VfioSyscallError,
  VfioV1Region,
  type MemoryMapping,
  type VfioRegionInfo,
} from '../src/index.js';
import { V1_DATA_OFFSET, V1_REGION_INDEX, createEmulatedDevice } from '../src/emulated/index.js';

const PAGE = 4096;

describe('mmap through LibcSyscalls (koffi), on a temporary regular file', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'savevm-mmap-'));
    file = path.join(dir, 'area.bin');
    const content = Buffer.alloc(2 * PAGE);
    for (let i = 0; i < content.length; i++) content[i] = i % 251;
    fs.writeFileSync(file, content);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('maps MAP_SHARED read/write: reads the file, stores reach it, munmap succeeds once', () => {
    const sys = new LibcSyscalls();
    const fd = sys.open(file, fs.constants.O_RDWR);
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      const mapping = sys.mmap(fd, PAGE, PAGE, true);
      expect(typeof mapping).toBe('object');
      const { bytes } = mapping as MemoryMapping;
      expect(bytes.byteLength).toBe(PAGE);
      expect(bytes[0]).toBe(PAGE % 251);
      expect(bytes[PAGE - 1]).toBe((2 * PAGE - 1) % 251);
      bytes.set([0xde, 0xad, 0xbe, 0xef], 8);
      expect(sys.munmap(mapping as MemoryMapping)).toBe(0);
      expect(sys.munmap(mapping as MemoryMapping)).toBe(-Errno.EINVAL); // unknown once unmapped
      expect([...fs.readFileSync(file).subarray(PAGE + 8, PAGE + 12)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    } finally {
      expect(sys.close(fd)).toBe(0);
    }
  });

  it('a failing mmap returns the errno read right after it: EBADF for a closed fd, ENODEV for /dev/null', () => {
    const sys = new LibcSyscalls();
    const fd = sys.open(file, fs.constants.O_RDWR);
    sys.close(fd);
    expect(sys.mmap(fd, 0, PAGE, false)).toBe(-Errno.EBADF);
    const devNull = sys.open('/dev/null', fs.constants.O_RDWR);
    try {
      expect(sys.mmap(devNull, 0, PAGE, true)).toBe(-Errno.ENODEV);
    } finally {
      sys.close(devNull);
    }
    expect(sys.mmap(0, 0, 0, false)).toBe(-Errno.EINVAL); // refused before the call
  });

  it('FdVfioDevice.mapRegionArea over the file: bytes at the region offset, typed errors, close() unmaps', () => {
    const sys = new LibcSyscalls();
    const fd = sys.open(file, fs.constants.O_RDWR);
    const device = new FdVfioDevice(sys, fd, 'file-device');
    const region: VfioRegionInfo = { index: 0, flags: VfioRegionFlags.READ | VfioRegionFlags.WRITE | VfioRegionFlags.MMAP, size: 2 * PAGE, offset: 0, capabilities: [] };
    const area = device.mapRegionArea(region, { offset: 4096n, size: 4096n });
    expect(area).toMatchObject({ regionIndex: 0, offset: PAGE, size: PAGE, writable: true, mapped: true });
    expect(area.bytes[1]).toBe((PAGE + 1) % 251);
    area.bytes[1] = 7;
    expect(device.mappedAreaCount).toBe(1);

    const outside = (): unknown => device.mapRegionArea(region, { offset: PAGE, size: 2 * PAGE });
    expect(outside).toThrow(RegionMapRefusedError);
    expect(() => device.mapRegionArea({ ...region, flags: VfioRegionFlags.READ }, { offset: 0, size: PAGE })).toThrow(/no MMAP flag/);
    const badOffset = ((): unknown => {
      try {
        return device.mapRegionArea(region, { offset: 100, size: PAGE }); // not page-aligned: the kernel says EINVAL
      } catch (error) {
        return error;
      }
    })();
    expect(badOffset).toBeInstanceOf(VfioSyscallError);
    expect(badOffset).toMatchObject({ errno: 'EINVAL', syscall: 'mmap', device: 'file-device' });

    device.close();
    expect(area.mapped).toBe(false);
    expect(() => area.bytes).toThrow(VfioError);
    area.unmap(); // idempotent
    expect(device.mappedAreaCount).toBe(0);
    expect(fs.readFileSync(file)[PAGE + 1]).toBe(7);
  });
});

describe('mmap on the emulated kernel (the v1 data section)', () => {
  function v1(sparse: boolean) {
    const setup = createEmulatedDevice({ protocol: 'v1', v1DataSectionSize: 4 * PAGE, v1SparseMmap: sparse });
    const region = setup.device.findRegionByType(VfioV1Region.TYPE, VfioV1Region.SUBTYPE);
    if (region === undefined) throw new Error('no v1 region');
    return { ...setup, region };
  }

  it('maps an area inside the sparse-mmap area; stores write through to the device model', () => {
    const { device, kernel, region } = v1(true);
    const cap = region.capabilities.find((c) => c.kind === 'sparse-mmap');
    expect(cap).toBeDefined();
    const whole = device.mapRegionArea(region, cap!.kind === 'sparse-mmap' ? cap!.areas[0]! : { offset: 0, size: 0 });
    expect(whole.size).toBe(4 * PAGE);
    whole.bytes.set([1, 2, 3], 10);
    const back = new Uint8Array(3);
    device.readRegion(region, V1_DATA_OFFSET + 10, back); // pread sees what the mapping stored
    expect([...back]).toEqual([1, 2, 3]);
    device.writeRegion(region, V1_DATA_OFFSET + PAGE, Uint8Array.of(9));
    const part = device.mapRegionArea(region, { offset: V1_DATA_OFFSET + PAGE, size: PAGE });
    expect(part.bytes[0]).toBe(9);
    expect(kernel.mappingCount()).toBe(2);
    part.unmap();
    part.unmap();
    expect(kernel.mappingCount()).toBe(1);
    whole.unmap();
    expect(kernel.mappingCount()).toBe(0);
  });

  it('refuses a range outside the mmap-able area with EINVAL (the header page)', () => {
    const { device, region } = v1(true);
    let error: unknown;
    try {
      device.mapRegionArea(region, { offset: 0, size: PAGE });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VfioSyscallError);
    expect(error).toMatchObject({ errno: 'EINVAL', errnoNumber: Errno.EINVAL, syscall: 'mmap' });
  });

  it('a region without the MMAP flag is refused before any mmap; the kernel says EINVAL too', () => {
    const { device, kernel, region, model } = v1(false);
    expect(region.flags & VfioRegionFlags.MMAP).toBe(0);
    expect(() => device.mapRegionArea(region, { offset: V1_DATA_OFFSET, size: PAGE })).toThrow(RegionMapRefusedError);
    const fd = kernel.openFds().find((f) => kernel.fdKind(f) === 'device')!;
    expect(kernel.mmap(fd, V1_REGION_INDEX * 2 ** 40 + V1_DATA_OFFSET, PAGE, true)).toBe(-Errno.EINVAL);
    expect(model.mapRegion(V1_REGION_INDEX, V1_DATA_OFFSET, PAGE, false)).toBe(-Errno.EINVAL);
  });

  it('close() releases every mapping the device made', () => {
    const { device, kernel, region } = v1(true);
    const a = device.mapRegionArea(region, { offset: V1_DATA_OFFSET, size: PAGE });
    const b = device.mapRegionArea(region, { offset: V1_DATA_OFFSET + 2 * PAGE, size: 2 * PAGE });
    expect(kernel.mappingCount()).toBe(2);
    device.close();
    expect(kernel.mappingCount()).toBe(0);
    expect(a.mapped || b.mapped).toBe(false);
    expect(() => device.mapRegionArea(region, { offset: V1_DATA_OFFSET, size: PAGE })).toThrow(/closed/);
  });
});
