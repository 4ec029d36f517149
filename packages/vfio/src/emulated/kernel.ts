/**
 * An in-process VFIO kernel implementing {@link Syscalls}: device nodes (`/dev/vfio/vfio`,
 * `/dev/vfio/<group>`, `/dev/vfio/devices/vfioN`, `/dev/iommu`), an fd table, and every ioctl
 * decoded from and answered into the same byte-exact structs as Linux, with Linux's errnos.
 * Devices are {@link EmulatedDeviceModel}s. Code driving it cannot tell it from the kernel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ResumeSession } from './resume-session.js';
import { Errno } from '../errors.js';
import {
  VFIO_API_VERSION,
  VfioDeviceFlags,
  VfioFeature,
  VfioFeatureFlags,
  VfioGroupFlags,
  VfioIommuType,
  VfioIoctl,
  VfioMigrationFlags,
  VfioRegionFlags,
} from '../uapi/constants.js';
import { encodeCapabilityChain } from '../uapi/capabilities.js';
import {
  DeviceFeatureHeader,
  DeviceInfo,
  FeatureMigDataSize,
  FeatureMigState,
  FeatureMigration,
  GroupStatus,
  PrecopyInfo,
  RegionInfo,
} from '../uapi/structs.js';
import type { MemoryMapping, Syscalls } from '../syscalls/syscalls.js';
import type { VfioDeviceLocation } from '../kernel/sysfs.js';
import { EmulatedDeviceModel, type EmulatedDeviceConfig, type EmulatedSession } from './device-model.js';

type ContainerFile = { kind: 'container'; iommuSet: boolean; groups: Set<GroupFile> };
type GroupFile = { kind: 'group'; group: GroupNode; container: ContainerFile | undefined };
type DeviceFile = { kind: 'device'; model: EmulatedDeviceModel; bound: boolean };
type IommuFile = { kind: 'iommufd' };
type DataFile = { kind: 'data'; model: EmulatedDeviceModel; session: EmulatedSession };
type OpenFile = ContainerFile | GroupFile | DeviceFile | IommuFile | DataFile;

interface GroupNode {
  readonly number: number;
  readonly devices: EmulatedDeviceModel[];
  viable: boolean;
  open: boolean;
}

/** Where an emulated device can be found (usable directly as a {@link VfioDeviceLocation}). */
export interface EmulatedDeviceNode extends VfioDeviceLocation {
  /** The device model. */
  readonly model: EmulatedDeviceModel;
  /** Device name (the model's). */
  readonly name: string;
  /** Where {@link EmulatedVfioKernel.writeSysfs} puts it, relative to `/sys`. */
  readonly sysfsPath: string;
  /** Its IOMMU group number. */
  readonly group: number;
  /** Its cdev name (`vfioN`). */
  readonly cdev: string;
}

const REGION_INDEX_SHIFT = 2 ** 40;
const FEATURE_OPS = VfioFeatureFlags.GET | VfioFeatureFlags.SET | VfioFeatureFlags.PROBE;

/** The emulated kernel. */
export class EmulatedVfioKernel implements Syscalls {
  /** Root of the emulated device nodes. */
  readonly devRoot: string;
  readonly #files = new Map<number, OpenFile>();
  readonly #groups = new Map<number, GroupNode>();
  readonly #cdevs = new Map<string, EmulatedDeviceModel>();
  readonly #nodes: EmulatedDeviceNode[] = [];
  readonly #mappings = new Set<MemoryMapping>();
  #nextFd = 100;
  #nextCdev = 0;

  /** Creates an empty kernel whose nodes live under `devRoot` (`/dev`). */
  constructor(devRoot = '/dev') {
    this.devRoot = devRoot;
  }

  /** Adds a device (a new model from `config`, or an existing model) in its own or a given group. */
  addDevice(config: EmulatedDeviceConfig | EmulatedDeviceModel = {}, group?: number): EmulatedDeviceNode {
    const model = config instanceof EmulatedDeviceModel ? config : new EmulatedDeviceModel(config);
    const number = group ?? (this.#groups.size === 0 ? 0 : Math.max(...this.#groups.keys()) + 1);
    let node = this.#groups.get(number);
    if (node === undefined) {
      node = { number, devices: [], viable: true, open: false };
      this.#groups.set(number, node);
    }
    node.devices.push(model);
    const cdev = `vfio${this.#nextCdev++}`;
    this.#cdevs.set(cdev, model);
    const entry = { model, name: model.name, sysfsPath: `/sys/devices/virtual/emulated/${model.name}`, group: number, cdev };
    this.#nodes.push(entry);
    return entry;
  }

  /** Marks a group viable or not (a group with a device not bound to vfio is not). */
  setGroupViable(group: number, viable: boolean): void {
    const node = this.#groups.get(group);
    if (node !== undefined) node.viable = viable;
  }

  /** The fds currently open, ascending. */
  openFds(): number[] {
    return [...this.#files.keys()].sort((a, b) => a - b);
  }

  /** How many mappings {@link mmap} made are still mapped. */
  mappingCount(): number {
    return this.#mappings.size;
  }

  /** What kind of file an fd is (`container`, `group`, `device`, `iommufd`, `data`), if open. */
  fdKind(fd: number): OpenFile['kind'] | undefined {
    return this.#files.get(fd)?.kind;
  }

  /**
   * Writes a fake sysfs tree for the devices under `root`, as Linux lays out mdevs:
   * `devices/virtual/emulated/<name>` with an `iommu_group` link and `vfio-dev/vfioN`, and
   * `bus/mdev/devices/<name>` linking to it.
   */
  writeSysfs(root: string): void {
    for (const { model, group, cdev } of this.#nodes) {
      const deviceDir = path.join(root, 'devices', 'virtual', 'emulated', model.name);
      fs.mkdirSync(path.join(deviceDir, 'vfio-dev', cdev), { recursive: true });
      fs.mkdirSync(path.join(root, 'kernel', 'iommu_groups', String(group)), { recursive: true });
      const groupLink = path.join(deviceDir, 'iommu_group');
      if (!fs.existsSync(groupLink)) {
        fs.symlinkSync(path.relative(deviceDir, path.join(root, 'kernel', 'iommu_groups', String(group))), groupLink);
      }
      const busDir = path.join(root, 'bus', 'mdev', 'devices');
      fs.mkdirSync(busDir, { recursive: true });
      const busLink = path.join(busDir, model.name);
      if (!fs.existsSync(busLink)) fs.symlinkSync(path.relative(busDir, deviceDir), busLink);
    }
  }

  // ---- Syscalls -----------------------------------------------------------------------------

  /** open(2) of an emulated node. */
  open(nodePath: string, _flags: number): number {
    const vfio = `${this.devRoot}/vfio/`;
    if (nodePath === `${vfio}vfio`) return this.#install({ kind: 'container', iommuSet: false, groups: new Set() });
    if (nodePath === `${this.devRoot}/iommu`) return this.#install({ kind: 'iommufd' });
    if (nodePath.startsWith(`${vfio}devices/`)) {
      const model = this.#cdevs.get(nodePath.slice(`${vfio}devices/`.length));
      return model === undefined ? -Errno.ENOENT : this.#install({ kind: 'device', model, bound: false });
    }
    if (nodePath.startsWith(vfio) && /^\d+$/.test(nodePath.slice(vfio.length))) {
      const group = this.#groups.get(Number(nodePath.slice(vfio.length)));
      if (group === undefined) return -Errno.ENOENT;
      if (group.open) return -Errno.EBUSY;
      group.open = true;
      return this.#install({ kind: 'group', group, container: undefined });
    }
    return -Errno.ENOENT;
  }

  /** close(2). Closing a group takes it out of its container. */
  close(fd: number): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    this.#files.delete(fd);
    if (file.kind === 'group') {
      file.group.open = false;
      if (file.container !== undefined) {
        file.container.groups.delete(file);
        if (file.container.groups.size === 0) file.container.iommuSet = false;
      }
    }
    return 0;
  }

  /** ioctl(2) with a pointer argument, dispatched on the fd's kind. */
  ioctl(fd: number, request: number, arg: Uint8Array | null): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    switch (file.kind) {
      case 'container':
        if (request === VfioIoctl.GET_API_VERSION) return VFIO_API_VERSION;
        return -Errno.ENOTTY;
      case 'group':
        return this.#groupIoctl(file, request, arg);
      case 'device':
        return this.#deviceIoctl(file, request, arg);
      case 'data':
        return this.#dataIoctl(file, request, arg);
      case 'iommufd':
        return -Errno.ENOTTY;
    }
  }

  /** ioctl(2) with an integer argument (container CHECK_EXTENSION and SET_IOMMU). */
  ioctlValue(fd: number, request: number, value: number): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind !== 'container') return file.kind === 'device' && !file.bound ? -Errno.EINVAL : -Errno.ENOTTY;
    if (request === VfioIoctl.CHECK_EXTENSION) return value === VfioIommuType.TYPE1v2 || value === VfioIommuType.TYPE1 ? 1 : 0;
    if (request === VfioIoctl.SET_IOMMU) {
      if (file.groups.size === 0 || file.iommuSet) return -Errno.EINVAL;
      if (value !== VfioIommuType.TYPE1v2 && value !== VfioIommuType.TYPE1) return -Errno.EINVAL;
      file.iommuSet = true;
      return 0;
    }
    if (request === VfioIoctl.GET_API_VERSION) return VFIO_API_VERSION;
    return -Errno.ENOTTY;
  }

  /** pread(2): device regions; ESPIPE on a data fd. */
  pread(fd: number, into: Uint8Array, offset: number): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind === 'data') return -Errno.ESPIPE;
    if (file.kind !== 'device' || !file.bound) return -Errno.EINVAL;
    const index = Math.floor(offset / REGION_INDEX_SHIFT);
    return file.model.regionRead(index, offset - index * REGION_INDEX_SHIFT, into);
  }

  /** pwrite(2): device regions; ESPIPE on a data fd. */
  pwrite(fd: number, from: Uint8Array, offset: number): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind === 'data') return -Errno.ESPIPE;
    if (file.kind !== 'device' || !file.bound) return -Errno.EINVAL;
    const index = Math.floor(offset / REGION_INDEX_SHIFT);
    return file.model.regionWrite(index, offset - index * REGION_INDEX_SHIFT, from);
  }

  /**
   * mmap(2) of a device region: a view of the device model's own bytes, for a range inside a
   * sparse-mmap area of a region with the MMAP flag (EINVAL otherwise, as the kernel refuses
   * to map outside mmap-able areas); ENODEV on any other kind of fd.
   */
  mmap(fd: number, offset: number, length: number, writable: boolean): MemoryMapping | number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind !== 'device') return -Errno.ENODEV;
    if (!file.bound) return -Errno.EINVAL;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length)) return -Errno.EINVAL;
    const index = Math.floor(offset / REGION_INDEX_SHIFT);
    const bytes = file.model.mapRegion(index, offset - index * REGION_INDEX_SHIFT, length, writable);
    if (typeof bytes === 'number') return bytes;
    const mapping: MemoryMapping = { bytes };
    this.#mappings.add(mapping);
    return mapping;
  }

  /** munmap(2) of a mapping {@link mmap} made; EINVAL for one it does not know. */
  munmap(mapping: MemoryMapping): number {
    return this.#mappings.delete(mapping) ? 0 : -Errno.EINVAL;
  }

  /** read(2): a data fd's stream (resolved asynchronously, like the threadpool read). */
  async read(fd: number, into: Uint8Array): Promise<number> {
    await Promise.resolve();
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind !== 'data') return -Errno.EINVAL;
    return file.model.readData(file.session, into);
  }

  /** write(2): a data fd's stream. */
  async write(fd: number, from: Uint8Array): Promise<number> {
    await Promise.resolve();
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    if (file.kind !== 'data') return -Errno.EINVAL;
    return file.model.writeData(file.session, from);
  }

  // ---- ioctl handlers -----------------------------------------------------------------------

  #install(file: OpenFile): number {
    const fd = this.#nextFd++;
    this.#files.set(fd, file);
    return fd;
  }

  #groupIoctl(file: GroupFile, request: number, arg: Uint8Array | null): number {
    switch (request) {
      case VfioIoctl.GROUP_GET_STATUS: {
        if (arg === null || arg.byteLength < GroupStatus.size || GroupStatus.decode(arg).argsz < GroupStatus.size) return -Errno.EINVAL;
        const flags = (file.group.viable ? VfioGroupFlags.VIABLE : 0) | (file.container ? VfioGroupFlags.CONTAINER_SET : 0);
        GroupStatus.encode({ argsz: GroupStatus.size, flags }, arg);
        return 0;
      }
      case VfioIoctl.GROUP_SET_CONTAINER: {
        if (arg === null || arg.byteLength < 4) return -Errno.EFAULT;
        if (file.container !== undefined || !file.group.viable) return -Errno.EINVAL;
        const containerFd = new DataView(arg.buffer, arg.byteOffset, 4).getInt32(0, true);
        const container = this.#files.get(containerFd);
        if (container === undefined) return -Errno.EBADF;
        if (container.kind !== 'container') return -Errno.EINVAL;
        container.groups.add(file);
        file.container = container;
        return 0;
      }
      case VfioIoctl.GROUP_UNSET_CONTAINER:
        if (file.container === undefined) return -Errno.EINVAL;
        file.container.groups.delete(file);
        if (file.container.groups.size === 0) file.container.iommuSet = false;
        file.container = undefined;
        return 0;
      case VfioIoctl.GROUP_GET_DEVICE_FD: {
        if (file.container === undefined || !file.container.iommuSet) return -Errno.EINVAL;
        if (arg === null) return -Errno.EFAULT;
        const end = arg.indexOf(0);
        const name = Buffer.from(arg.subarray(0, end < 0 ? arg.byteLength : end)).toString('utf8');
        const model = file.group.devices.find((device) => device.name === name);
        if (model === undefined) return -Errno.ENODEV;
        return this.#install({ kind: 'device', model, bound: true });
      }
      default:
        return -Errno.ENOTTY;
    }
  }

  #deviceIoctl(file: DeviceFile, request: number, arg: Uint8Array | null): number {
    if (request === VfioIoctl.DEVICE_BIND_IOMMUFD) {
      if (file.bound || arg === null || arg.byteLength < 16) return -Errno.EINVAL;
      const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
      const iommufd = view.getInt32(8, true);
      if (view.getUint32(0, true) < 16 || view.getUint32(4, true) !== 0 || iommufd < 0) return -Errno.EINVAL;
      const iommu = this.#files.get(iommufd);
      if (iommu === undefined) return -Errno.EBADF;
      if (iommu.kind !== 'iommufd') return -Errno.EINVAL;
      view.setUint32(12, 1, true);
      file.bound = true;
      return 0;
    }
    if (!file.bound) return -Errno.EINVAL; // Linux: any device ioctl before BIND_IOMMUFD
    const model = file.model;
    switch (request) {
      case VfioIoctl.DEVICE_GET_INFO: {
        if (arg === null || arg.byteLength < 16 || new DataView(arg.buffer, arg.byteOffset).getUint32(0, true) < 16) return -Errno.EINVAL;
        const info = { argsz: DeviceInfo.size, flags: VfioDeviceFlags.RESET | VfioDeviceFlags.PCI, num_regions: model.regionCount, num_irqs: 5, cap_offset: 0, pad: 0 };
        const bytes = DeviceInfo.encode(info);
        arg.set(bytes.subarray(0, Math.min(arg.byteLength, bytes.byteLength)));
        return 0;
      }
      case VfioIoctl.DEVICE_GET_REGION_INFO:
        return this.#regionInfo(model, arg);
      case VfioIoctl.DEVICE_RESET:
        return model.reset();
      case VfioIoctl.DEVICE_FEATURE:
        return this.#feature(model, arg);
      default:
        return -Errno.ENOTTY;
    }
  }

  #regionInfo(model: EmulatedDeviceModel, arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < 16) return -Errno.EINVAL;
    const argsz = new DataView(arg.buffer, arg.byteOffset).getUint32(0, true);
    const index = new DataView(arg.buffer, arg.byteOffset).getUint32(8, true);
    if (argsz < 16 || argsz > arg.byteLength) return -Errno.EINVAL;
    const region = model.region(index);
    if (region === undefined) return -Errno.EINVAL;
    const chain = region.capabilities.length > 0 ? encodeCapabilityChain(region.capabilities, RegionInfo.size) : new Uint8Array(0);
    const needed = RegionInfo.size + chain.byteLength;
    const fits = chain.byteLength > 0 && argsz >= needed;
    const info = RegionInfo.encode({
      argsz: chain.byteLength > 0 ? needed : RegionInfo.size,
      flags: region.flags | (chain.byteLength > 0 ? VfioRegionFlags.CAPS : 0),
      index,
      cap_offset: fits ? RegionInfo.size : 0,
      size: BigInt(region.size),
      offset: BigInt(index) * BigInt(REGION_INDEX_SHIFT),
    });
    arg.set(info.subarray(0, Math.min(argsz, RegionInfo.size)));
    if (fits) arg.set(chain, RegionInfo.size);
    return 0;
  }

  #feature(model: EmulatedDeviceModel, arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < DeviceFeatureHeader.size) return -Errno.EFAULT;
    const { argsz, flags } = DeviceFeatureHeader.decode(arg);
    if (argsz < DeviceFeatureHeader.size || argsz > arg.byteLength) return -Errno.EINVAL;
    if ((flags & ~(VfioFeatureFlags.MASK | FEATURE_OPS)) !== 0) return -Errno.EINVAL;
    const ops = flags & FEATURE_OPS;
    if ((ops & (VfioFeatureFlags.GET | VfioFeatureFlags.SET)) === (VfioFeatureFlags.GET | VfioFeatureFlags.SET) && (ops & VfioFeatureFlags.PROBE) === 0) {
      return -Errno.EINVAL;
    }
    if (ops === 0) return -Errno.EINVAL;
    const feature = flags & VfioFeatureFlags.MASK;
    const payload = arg.subarray(DeviceFeatureHeader.size, argsz);
    const check = (supported: number, minPayload: number): number | undefined => {
      if ((ops & ~(supported | VfioFeatureFlags.PROBE)) !== 0) return -Errno.EINVAL;
      if ((ops & VfioFeatureFlags.PROBE) !== 0) return 0;
      if (payload.byteLength < minPayload) return -Errno.EINVAL;
      return undefined;
    };
    const migratable = model.migrationFlags !== 0;
    switch (feature) {
      case VfioFeature.MIGRATION: {
        if (!migratable) return -Errno.ENOTTY;
        const early = check(VfioFeatureFlags.GET, FeatureMigration.size);
        if (early !== undefined) return early;
        FeatureMigration.encode({ flags: BigInt(model.migrationFlags) }, payload);
        return 0;
      }
      case VfioFeature.MIG_DEVICE_STATE: {
        if (!migratable) return -Errno.ENOTTY;
        const early = check(VfioFeatureFlags.GET | VfioFeatureFlags.SET, FeatureMigState.size);
        if (early !== undefined) return early;
        if ((ops & VfioFeatureFlags.GET) !== 0) {
          FeatureMigState.encode({ device_state: model.migState, data_fd: -1 }, payload);
          return 0;
        }
        const requested = FeatureMigState.decode(payload).device_state;
        const outcome = model.setMigState(requested);
        if (!outcome.ok) {
          FeatureMigState.encode({ device_state: requested, data_fd: -1 }, payload);
          return -outcome.errno;
        }
        const dataFd = outcome.session !== undefined ? this.#install({ kind: 'data', model, session: outcome.session }) : -1;
        FeatureMigState.encode({ device_state: model.migState, data_fd: dataFd }, payload);
        return 0;
      }
      case VfioFeature.MIG_DATA_SIZE: {
        if (!migratable) return -Errno.ENOTTY;
        const early = check(VfioFeatureFlags.GET, FeatureMigDataSize.size);
        if (early !== undefined) return early;
        FeatureMigDataSize.encode({ stop_copy_length: BigInt(model.stopCopyLength()) }, payload);
        return 0;
      }
      default:
        return -Errno.ENOTTY; // unknown feature, or DMA logging (no log_ops)
    }
  }

  #dataIoctl(file: DataFile, request: number, arg: Uint8Array | null): number {
    if (request !== VfioIoctl.MIG_GET_PRECOPY_INFO) return -Errno.ENOTTY;
    if ((file.model.migrationFlags & VfioMigrationFlags.PRE_COPY) === 0) return -Errno.ENOTTY;
    if (file.session instanceof ResumeSession) return -Errno.ENOTTY; // a resuming file has no ioctls
    if (arg === null || arg.byteLength < PrecopyInfo.size) return -Errno.EINVAL;
    if (PrecopyInfo.decode(arg).argsz < PrecopyInfo.size) return -Errno.EINVAL;
    const info = file.model.precopyInfo(file.session);
    if (typeof info === 'number') return info;
    PrecopyInfo.encode({ argsz: PrecopyInfo.size, flags: 0, initial_bytes: BigInt(info[0]), dirty_bytes: BigInt(info[1]) }, arg);
    return 0;
  }
}
