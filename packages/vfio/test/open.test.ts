import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Errno,
  IommufdContext,
  MigState,
  VfioContainer,
  VfioError,
  locateVfioDevice,
  openVfioDevice,
  type Syscalls,
} from '../src/index.js';
import { EmulatedVfioKernel } from '../src/emulated/index.js';

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-sysfs-'));
  temps.push(dir);
  return dir;
}

/** Delegates to a kernel, failing call number `failAt` (0-based) with `errno`; counts calls. */
class FailingSyscalls implements Syscalls {
  calls = 0;
  constructor(private readonly kernel: EmulatedVfioKernel, private readonly failAt: number, private readonly errno = Errno.EIO) {}
  #fail(): boolean {
    return this.calls++ === this.failAt;
  }
  open(p: string, flags: number): number {
    return this.#fail() ? -this.errno : this.kernel.open(p, flags);
  }
  close(fd: number): number {
    this.calls++;
    return this.kernel.close(fd);
  }
  ioctl(fd: number, request: number, arg: Uint8Array | null): number {
    return this.#fail() ? -this.errno : this.kernel.ioctl(fd, request, arg);
  }
  ioctlValue(fd: number, request: number, value: number): number {
    return this.#fail() ? -this.errno : this.kernel.ioctlValue(fd, request, value);
  }
  pread(fd: number, into: Uint8Array, offset: number): number {
    return this.kernel.pread(fd, into, offset);
  }
  pwrite(fd: number, from: Uint8Array, offset: number): number {
    return this.kernel.pwrite(fd, from, offset);
  }
  read(fd: number, into: Uint8Array): Promise<number> {
    return this.kernel.read(fd, into);
  }
  write(fd: number, from: Uint8Array): Promise<number> {
    return this.kernel.write(fd, from);
  }
}

describe('locating devices in sysfs', () => {
  it('finds the group and cdev from an mdev UUID or a sysfs path', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({ name: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001' });
    const b = kernel.addDevice({ name: '0000:01:00.0' }, 7);
    const root = tempDir();
    kernel.writeSysfs(root);
    expect(locateVfioDevice({ mdevUuid: a.model.name }, root)).toMatchObject({ name: a.model.name, group: 0, cdev: 'vfio0' });
    const byPath = locateVfioDevice({ sysfsPath: path.join(root, 'devices/virtual/emulated/0000:01:00.0') }, root);
    expect(byPath).toMatchObject({ name: '0000:01:00.0', group: 7, cdev: 'vfio1' });
    expect(b.group).toBe(7);
    expect(() => locateVfioDevice({ mdevUuid: 'not-a-uuid' }, root)).toThrow(VfioError);
    expect(() => locateVfioDevice({ mdevUuid: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1002' }, root)).toThrow(/no such device/);
  });

  it('opens through sysfs both ways and migrates state', () => {
    const kernel = new EmulatedVfioKernel();
    const node = kernel.addDevice({ name: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1003', stateSize: 4096 });
    const root = tempDir();
    kernel.writeSysfs(root);
    for (const via of ['group', 'cdev'] as const) {
      const device = openVfioDevice({ mdevUuid: node.model.name }, { syscalls: kernel, sysfsRoot: root, via });
      expect(device.getState()).toBe(MigState.RUNNING);
      expect(device.getInfo()).toMatchObject({ numRegions: 9, numIrqs: 5 });
      device.close();
      expect(kernel.openFds()).toEqual([]);
    }
  });
});

describe('containers, groups and iommufd', () => {
  it('several devices share one container; groups close with their last device', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({}, 1);
    const b = kernel.addDevice({}, 1);
    const c = kernel.addDevice({}, 2);
    const container = VfioContainer.open({ syscalls: kernel });
    const da = container.openDevice({ name: a.model.name, group: 1 });
    const db = container.openDevice({ name: b.model.name, group: 1 });
    const dc = container.openDevice({ name: c.model.name, group: 2 });
    expect(container.groupCount).toBe(2);
    expect(kernel.openFds().map((fd) => kernel.fdKind(fd)).sort()).toEqual(['container', 'device', 'device', 'device', 'group', 'group']);
    da.close();
    expect(container.groupCount).toBe(2);
    db.close();
    expect(container.groupCount).toBe(1);
    dc.close();
    expect(container.groupCount).toBe(0);
    container.close();
    expect(kernel.openFds()).toEqual([]);
  });

  it('container.close closes devices still open (and their data files)', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({ stateSize: 4096 });
    const container = VfioContainer.open({ syscalls: kernel });
    const device = container.openDevice({ name: a.model.name, group: a.group });
    device.setState(MigState.STOP);
    device.setState(MigState.STOP_COPY);
    container.close();
    expect(device.closed).toBe(true);
    expect(kernel.openFds()).toEqual([]);
  });

  it('cdev devices ioctls before BIND_IOMMUFD are EINVAL; iommufd is shared', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({});
    const b = kernel.addDevice({});
    const fd = kernel.open(`/dev/vfio/devices/${a.cdev}`, 2);
    expect(kernel.ioctl(fd, 0x3b75, new Uint8Array(16))).toBe(-Errno.EINVAL);
    kernel.close(fd);
    const iommu = IommufdContext.open({ syscalls: kernel });
    const da = iommu.openDevice(a);
    const db = iommu.openDevice(b);
    expect(da.getState()).toBe(MigState.RUNNING);
    iommu.close();
    expect(da.closed && db.closed).toBe(true);
    expect(kernel.openFds()).toEqual([]);
  });

  it('a group that is not viable is refused and nothing stays open', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({});
    kernel.setGroupViable(a.group, false);
    expect(() => openVfioDevice(a, { syscalls: kernel, via: 'group' })).toThrow(/not viable/);
    expect(kernel.openFds()).toEqual([]);
  });

  for (const via of ['group', 'cdev'] as const) {
    it(`every fd is closed when any syscall of the ${via} open path fails`, () => {
      // Count the calls of a successful open first.
      const probeKernel = new EmulatedVfioKernel();
      const probeNode = probeKernel.addDevice({});
      const probe = new FailingSyscalls(probeKernel, -1);
      openVfioDevice(probeNode, { syscalls: probe, via }).close();
      const total = probe.calls;
      expect(total).toBeGreaterThan(2);
      for (let failAt = 0; failAt < total; failAt++) {
        const kernel = new EmulatedVfioKernel();
        const node = kernel.addDevice({});
        const sys = new FailingSyscalls(kernel, failAt);
        try {
          openVfioDevice(node, { syscalls: sys, via }).close();
        } catch (error) {
          expect(error).toBeInstanceOf(VfioError);
        }
        expect({ failAt, open: kernel.openFds() }).toEqual({ failAt, open: [] });
      }
    });
  }

  it('a second device of a group fails cleanly and keeps the first working', () => {
    const kernel = new EmulatedVfioKernel();
    const a = kernel.addDevice({}, 3);
    const container = VfioContainer.open({ syscalls: kernel });
    const da = container.openDevice({ name: a.model.name, group: 3 });
    expect(() => container.openDevice({ name: 'nope', group: 3 })).toThrow(expect.objectContaining({ errno: 'ENODEV', op: 'VFIO_GROUP_GET_DEVICE_FD' }));
    expect(da.getState()).toBe(MigState.RUNNING);
    expect(() => container.openDevice({ name: 'nope', group: 9 })).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    container.close();
    expect(kernel.openFds()).toEqual([]);
  });

  it('device info, regions, region read/write and reset work the same via both paths', () => {
    const kernel = new EmulatedVfioKernel();
    const node = kernel.addDevice({});
    for (const via of ['group', 'cdev'] as const) {
      const device = openVfioDevice(node, { syscalls: kernel, via });
      const bar0 = device.getRegionInfo(0);
      expect(bar0).toMatchObject({ index: 0, size: 4096, offset: 0, capabilities: [] });
      expect(device.writeRegion(bar0, 8, Buffer.from('MIGRATE!'))).toBe(8);
      const back = new Uint8Array(8);
      device.readRegion(bar0, 8, back);
      expect(Buffer.from(back).toString()).toBe('MIGRATE!');
      expect(() => device.readRegion(bar0, 4095, new Uint8Array(8))).toThrow(VfioError);
      expect(() => device.getRegionInfo(42)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
      device.reset();
      device.close();
    }
    expect(kernel.openFds()).toEqual([]);
  });
});
