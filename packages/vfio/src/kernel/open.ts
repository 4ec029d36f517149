/**
 * Opening VFIO devices the two ways the kernel offers: a legacy container with groups
 * (`/dev/vfio/vfio` + `/dev/vfio/<group>`), or iommufd cdevs (`/dev/iommu` +
 * `/dev/vfio/devices/vfioN`). Several devices share one container or iommufd. Every fd opened
 * is closed on every path, failures included.
 */
import { VfioError, VfioSyscallError } from '../errors.js';
import {
  OpenFlags,
  VFIO_API_VERSION,
  VfioGroupFlags,
  VfioIommuType,
  VfioIoctl,
} from '../uapi/constants.js';
import { BIND_IOMMUFD_ARGSZ_V1, DeviceAttachIommufdPt, DeviceBindIommufd, GroupStatus } from '../uapi/structs.js';
import { checked, type Syscalls } from '../syscalls/syscalls.js';
import { LibcSyscalls } from '../syscalls/libc.js';
import { FdVfioDevice } from '../device/device.js';
import type { VfioDevice } from '../device/types.js';
import { locateVfioDevice, type VfioDeviceLocation, type VfioDeviceSpec } from './sysfs.js';
import { IommufdIommu } from './iommufd-iommu.js';
import { Type1Iommu } from './type1-iommu.js';
import { OpenDevices } from './device-lifetimes.js';

/** Options shared by the openers. */
export interface OpenOptions {
  /** Syscall layer; the real kernel by default. */
  readonly syscalls?: Syscalls;
  /** Root of the device nodes (`/dev`). */
  readonly devRoot?: string;
}

/** Closes an fd on a failure path; the original error is what matters, so close errors are dropped. */
function closeQuietly(sys: Syscalls, fd: number): void {
  sys.close(fd);
}

function nulTerminated(text: string): Uint8Array {
  const bytes = Buffer.from(`${text}\0`, 'utf8');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface GroupEntry {
  readonly number: number;
  readonly fd: number;
  devices: number;
}

/**
 * A legacy VFIO container (`/dev/vfio/vfio`, TYPE1v2 IOMMU) holding any number of groups.
 * Devices opened through it keep their group open; a group closes with its last device.
 */
export class VfioContainer {
  /** The container fd (valid until closed). */
  readonly fd: number;
  readonly #sys: Syscalls;
  readonly #devRoot: string;
  readonly #groups = new Map<number, GroupEntry>();
  readonly #devices = new OpenDevices(() => this.close());
  #iommuSet = false;
  #closed = false;

  private constructor(sys: Syscalls, fd: number, devRoot: string) {
    this.#sys = sys;
    this.fd = fd;
    this.#devRoot = devRoot;
  }

  /** Opens `/dev/vfio/vfio`, checks the API version and the TYPE1v2 extension. */
  static open(options: OpenOptions = {}): VfioContainer {
    const sys = options.syscalls ?? new LibcSyscalls();
    const devRoot = options.devRoot ?? '/dev';
    const path = `${devRoot}/vfio/vfio`;
    const fd = checked(sys.open(path, OpenFlags.O_RDWR), 'open', { device: path, op: 'open container' });
    try {
      const version = checked(sys.ioctl(fd, VfioIoctl.GET_API_VERSION, null), 'ioctl', {
        device: path,
        op: 'VFIO_GET_API_VERSION',
      });
      if (version !== VFIO_API_VERSION) {
        throw new VfioError(`unknown VFIO API version ${version}`, { device: path, op: 'VFIO_GET_API_VERSION' });
      }
      const hasType1v2 = checked(sys.ioctlValue(fd, VfioIoctl.CHECK_EXTENSION, VfioIommuType.TYPE1v2), 'ioctl', {
        device: path,
        op: 'VFIO_CHECK_EXTENSION(TYPE1v2)',
      });
      if (hasType1v2 !== 1) {
        throw new VfioError('the container does not support the TYPE1v2 IOMMU', { device: path, op: 'VFIO_CHECK_EXTENSION(TYPE1v2)' });
      }
    } catch (error) {
      closeQuietly(sys, fd);
      throw error;
    }
    return new VfioContainer(sys, fd, devRoot);
  }

  /**
   * The container's type1 IOMMU (DMA map/unmap, GET_INFO, dirty tracking). Its ioctls work
   * once a group is attached (the IOMMU is set with the first group).
   */
  get iommu(): Type1Iommu {
    return new Type1Iommu(this.#sys, this.fd, `${this.#devRoot}/vfio/vfio`);
  }

  /** Number of groups currently attached. */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** Opens a device of `location.group` (attaching the group on first use). */
  openDevice(location: Pick<VfioDeviceLocation, 'name' | 'group'>): VfioDevice {
    if (this.#closed) throw new VfioError('container is closed', { device: location.name, op: 'open device' });
    if (location.group === undefined) {
      throw new VfioError('device has no IOMMU group', { device: location.name, op: 'open device via group' });
    }
    const group = this.#groups.get(location.group) ?? this.#attachGroup(location.group, location.name);
    const context = { device: location.name, op: 'VFIO_GROUP_GET_DEVICE_FD' };
    const result = this.#sys.ioctl(group.fd, VfioIoctl.GROUP_GET_DEVICE_FD, nulTerminated(location.name));
    if (result < 0) {
      if (group.devices === 0) this.#detachGroup(group);
      throw new VfioSyscallError(-result, 'ioctl', context);
    }
    group.devices++;
    return this.#devices.add(this.#sys, result, location.name, () => {
      group.devices--;
      if (group.devices === 0) this.#detachGroup(group);
    });
  }

  /** Closes every device still open, every group, then the container. Idempotent. */
  close(): void {
    if (this.#closed) return;
    let firstError = this.#devices.closeAll();
    for (const group of [...this.#groups.values()]) this.#detachGroup(group);
    this.#closed = true;
    const result = this.#sys.close(this.fd);
    if (result < 0) firstError ??= new VfioSyscallError(-result, 'close', { op: 'close container' });
    if (firstError !== undefined) throw firstError;
  }

  /** Makes the container close itself when its last device closes (used by {@link openVfioDevice}). */
  closeWhenIdle(): void {
    this.#devices.closeWhenIdle();
  }

  #attachGroup(number: number, deviceName: string): GroupEntry {
    const path = `${this.#devRoot}/vfio/${number}`;
    const fd = checked(this.#sys.open(path, OpenFlags.O_RDWR), 'open', { device: path, op: 'open group' });
    try {
      const status = GroupStatus.encode({ argsz: GroupStatus.size, flags: 0 });
      checked(this.#sys.ioctl(fd, VfioIoctl.GROUP_GET_STATUS, status), 'ioctl', { device: path, op: 'VFIO_GROUP_GET_STATUS' });
      if ((GroupStatus.decode(status).flags & VfioGroupFlags.VIABLE) === 0) {
        throw new VfioError(`group ${number} is not viable (bind every device in it to vfio)`, {
          device: deviceName,
          op: 'VFIO_GROUP_GET_STATUS',
        });
      }
      const containerFd = new Uint8Array(4);
      new DataView(containerFd.buffer).setInt32(0, this.fd, true);
      checked(this.#sys.ioctl(fd, VfioIoctl.GROUP_SET_CONTAINER, containerFd), 'ioctl', {
        device: path,
        op: 'VFIO_GROUP_SET_CONTAINER',
      });
      if (!this.#iommuSet) {
        checked(this.#sys.ioctlValue(this.fd, VfioIoctl.SET_IOMMU, VfioIommuType.TYPE1v2), 'ioctl', {
          device: path,
          op: 'VFIO_SET_IOMMU(TYPE1v2)',
        });
        this.#iommuSet = true;
      }
    } catch (error) {
      // Closing the group fd also takes it out of the container.
      closeQuietly(this.#sys, fd);
      throw error;
    }
    const entry: GroupEntry = { number, fd, devices: 0 };
    this.#groups.set(number, entry);
    return entry;
  }

  #detachGroup(group: GroupEntry): void {
    this.#groups.delete(group.number);
    closeQuietly(this.#sys, group.fd);
    if (this.#groups.size === 0) this.#iommuSet = false;
  }
}

/**
 * An iommufd (`/dev/iommu`) shared by devices opened through their cdev
 * (`/dev/vfio/devices/vfioN` + VFIO_DEVICE_BIND_IOMMUFD).
 */
export class IommufdContext {
  /** The iommufd (valid until closed). */
  readonly fd: number;
  readonly #sys: Syscalls;
  readonly #devRoot: string;
  readonly #devices = new OpenDevices(() => this.close());
  readonly #deviceIds = new Map<VfioDevice, number>();
  #closed = false;

  private constructor(sys: Syscalls, fd: number, devRoot: string) {
    this.#sys = sys;
    this.fd = fd;
    this.#devRoot = devRoot;
  }

  /** The iommufd's IOAS, HWPT and dirty-tracking ioctls. */
  get iommu(): IommufdIommu {
    return new IommufdIommu(this.#sys, this.fd, `${this.#devRoot}/iommu`);
  }

  /** The id BIND_IOMMUFD gave `device` (for GET_HW_INFO and HWPT_ALLOC), if it was opened here. */
  deviceId(device: VfioDevice): number | undefined {
    return this.#deviceIds.get(device);
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT: attaches a device opened here to an IOAS (the kernel
   * picks or makes a page table) or a HWPT; returns the id the kernel wrote back (the HWPT
   * used, or the IOAS for an emulated device).
   */
  attach(device: VfioDevice, ptId: number): number {
    const op = `VFIO_DEVICE_ATTACH_IOMMUFD_PT ${ptId}`;
    if (!(device instanceof FdVfioDevice) || !this.#devices.has(device)) {
      throw new VfioError('the device was not opened through this iommufd', { device: device.name, op });
    }
    const buf = DeviceAttachIommufdPt.encode({ argsz: 12, flags: 0, pt_id: ptId, pasid: 0 }).subarray(0, 12);
    checked(this.#sys.ioctl(device.fd, VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT, buf), 'ioctl', { device: device.name, op });
    return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(8, true);
  }

  /** Opens `/dev/iommu`. */
  static open(options: OpenOptions = {}): IommufdContext {
    const sys = options.syscalls ?? new LibcSyscalls();
    const devRoot = options.devRoot ?? '/dev';
    const path = `${devRoot}/iommu`;
    const fd = checked(sys.open(path, OpenFlags.O_RDWR), 'open', { device: path, op: 'open iommufd' });
    return new IommufdContext(sys, fd, devRoot);
  }

  /** Opens `location.cdev` and binds it to this iommufd. */
  openDevice(location: Pick<VfioDeviceLocation, 'name' | 'cdev'>): VfioDevice {
    if (this.#closed) throw new VfioError('iommufd is closed', { device: location.name, op: 'open device' });
    if (location.cdev === undefined) throw new VfioError('device has no vfio cdev', { device: location.name, op: 'open device via cdev' });
    const path = `${this.#devRoot}/vfio/devices/${location.cdev}`;
    const fd = checked(this.#sys.open(path, OpenFlags.O_RDWR), 'open', { device: location.name, op: `open ${path}` });
    let devId: number;
    try {
      const bind = DeviceBindIommufd.encode({
        argsz: BIND_IOMMUFD_ARGSZ_V1,
        flags: 0,
        iommufd: this.fd,
        out_devid: 0,
        token_uuid_ptr: 0n,
      }).subarray(0, BIND_IOMMUFD_ARGSZ_V1);
      checked(this.#sys.ioctl(fd, VfioIoctl.DEVICE_BIND_IOMMUFD, bind), 'ioctl', {
        device: location.name,
        op: 'VFIO_DEVICE_BIND_IOMMUFD',
      });
      devId = new DataView(bind.buffer, bind.byteOffset, bind.byteLength).getUint32(12, true); // out_devid
    } catch (error) {
      closeQuietly(this.#sys, fd);
      throw error;
    }
    const device = this.#devices.add(this.#sys, fd, location.name, (closed) => this.#deviceIds.delete(closed));
    this.#deviceIds.set(device, devId);
    return device;
  }

  /** Closes every device still open, then the iommufd. Idempotent. */
  close(): void {
    if (this.#closed) return;
    let firstError = this.#devices.closeAll();
    this.#closed = true;
    const result = this.#sys.close(this.fd);
    if (result < 0) firstError ??= new VfioSyscallError(-result, 'close', { op: 'close iommufd' });
    if (firstError !== undefined) throw firstError;
  }

  /** Makes the context close itself when its last device closes (used by {@link openVfioDevice}). */
  closeWhenIdle(): void {
    this.#devices.closeWhenIdle();
  }
}

/** Options of {@link openVfioDevice}. */
export interface OpenVfioDeviceOptions extends OpenOptions {
  /** `group` (legacy container) or `cdev` (iommufd); default: cdev when the device has one. */
  readonly via?: 'group' | 'cdev';
  /** Root of sysfs (`/sys`), for locating the device. */
  readonly sysfsRoot?: string;
}

/**
 * Locates a device in sysfs and opens it with a container or iommufd of its own, which closes
 * with the device. To share one container between devices, use {@link VfioContainer} directly.
 */
export function openVfioDevice(spec: VfioDeviceSpec | VfioDeviceLocation, options: OpenVfioDeviceOptions = {}): VfioDevice {
  const location = 'name' in spec ? spec : locateVfioDevice(spec, options.sysfsRoot);
  const via = options.via ?? (location.cdev !== undefined ? 'cdev' : 'group');
  const context = via === 'cdev' ? IommufdContext.open(options) : VfioContainer.open(options);
  try {
    const device = context.openDevice(location);
    context.closeWhenIdle();
    return device;
  } catch (error) {
    context.close();
    throw error;
  }
}
