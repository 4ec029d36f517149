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
import { EmulatedDeviceModel, type EmulatedDeviceConfig } from './device-model.js';
import type { EmulatedSession } from './data-session-slot.js';
import { EmulatedIommufd } from './iommufd-objects.js';
import { EmulatedType1 } from './type1-container.js';
import { EmulatedUserMemory } from './user-memory.js';
import { DmaLoggingControl, DmaLoggingRange, DmaLoggingReport } from '../uapi/structs.js';
import { VfioIommuIoctl, DirtyPagesFlags } from '../uapi/type1.js';
import { iommufdIoctlName } from '../uapi/iommufd.js';
import type { DmaIoctlOp, IoctlFault } from './faults/fault-settings.js';

type ContainerFile = { kind: 'container'; iommuSet: boolean; groups: Set<GroupFile>; type1: EmulatedType1 | undefined };
type GroupFile = { kind: 'group'; group: GroupNode; container: ContainerFile | undefined };
type DeviceFile = {
  kind: 'device';
  model: EmulatedDeviceModel;
  bound: boolean;
  via?: { readonly iommufd: EmulatedIommufd; readonly devId: number } | { readonly group: GroupFile };
};
type IommuFile = { kind: 'iommufd'; ctx: EmulatedIommufd };
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
/** The kernel's limit of DMA logging ranges (PAGE_SIZE / 16). */
const LOG_MAX_RANGES = 256;
const U64 = 2n ** 64n;
const TYPE1_IOCTLS: ReadonlySet<number> = new Set(Object.values(VfioIommuIoctl));

/** The emulated kernel. */
export class EmulatedVfioKernel implements Syscalls {
  /** Root of the emulated device nodes. */
  readonly devRoot: string;
  readonly #files = new Map<number, OpenFile>();
  readonly #groups = new Map<number, GroupNode>();
  readonly #cdevs = new Map<string, EmulatedDeviceModel>();
  readonly #nodes: EmulatedDeviceNode[] = [];
  readonly #mappings = new Set<MemoryMapping>();
  /** The user memory pointers in ioctl structs refer to. */
  readonly memory = new EmulatedUserMemory();
  #ioctlFaults: { fault: IoctlFault; used: number; passed: number }[] = [];
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

  /** The user address of `bytes` (pointers in DMA, dirty-bitmap and logging structs). */
  addressOf(bytes: Uint8Array): bigint {
    return this.memory.addressOf(bytes);
  }

  /** Makes a DMA or dirty-tracking ioctl fail (see {@link IoctlFault}). */
  failIoctl(fault: IoctlFault): void {
    this.#ioctlFaults.push({ fault, used: 0, passed: 0 });
  }

  /** Removes every ioctl fault. */
  clearIoctlFaults(): void {
    this.#ioctlFaults = [];
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
    if (nodePath === `${vfio}vfio`) return this.#install({ kind: 'container', iommuSet: false, groups: new Set(), type1: undefined });
    if (nodePath === `${this.devRoot}/iommu`) return this.#install({ kind: 'iommufd', ctx: new EmulatedIommufd(this.memory) });
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
      if (file.container !== undefined) this.#leaveContainer(file);
    } else if (file.kind === 'device') {
      const via = file.via;
      if (via !== undefined && 'iommufd' in via) via.iommufd.unbind(via.devId);
      else if (via !== undefined) file.model.dma.connectDma(undefined);
    } else if (file.kind === 'container') {
      for (const group of file.groups) this.#disconnectGroup(group);
    }
    return 0;
  }

  /** ioctl(2) with a pointer argument, dispatched on the fd's kind. */
  ioctl(fd: number, request: number, arg: Uint8Array | null): number {
    const file = this.#files.get(fd);
    if (file === undefined) return -Errno.EBADF;
    const injected = this.#injectedFault(file, request, arg);
    if (injected !== undefined) return -injected;
    switch (file.kind) {
      case 'container':
        if (request === VfioIoctl.GET_API_VERSION) return VFIO_API_VERSION;
        if (file.type1 !== undefined) return file.type1.ioctl(request, arg);
        return TYPE1_IOCTLS.has(request) ? -Errno.EINVAL : -Errno.ENOTTY;
      case 'group':
        return this.#groupIoctl(file, request, arg);
      case 'device':
        return this.#deviceIoctl(file, request, arg);
      case 'data':
        return this.#dataIoctl(file, request, arg);
      case 'iommufd':
        return file.ctx.ioctl(request, arg);
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
      const type1 = new EmulatedType1(this.memory, {
        nonPinnedGroups: () => [...file.groups].filter((g) => g.group.devices.some((d) => d.dma.iommuKind === 'physical')).length,
      });
      type1.v2 = value === VfioIommuType.TYPE1v2;
      file.type1 = type1;
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
        this.#leaveContainer(file);
        return 0;
      case VfioIoctl.GROUP_GET_DEVICE_FD: {
        if (file.container === undefined || !file.container.iommuSet) return -Errno.EINVAL;
        if (arg === null) return -Errno.EFAULT;
        const end = arg.indexOf(0);
        const name = Buffer.from(arg.subarray(0, end < 0 ? arg.byteLength : end)).toString('utf8');
        const model = file.group.devices.find((device) => device.name === name);
        if (model === undefined) return -Errno.ENODEV;
        const type1 = file.container.type1;
        if (type1 !== undefined) {
          model.dma.connectDma({
            kind: 'type1',
            mappings: type1.mappings,
            // An emulated-IOMMU device writes through vfio_dma_rw(), which type1 sees; a
            // physical one writes through the IOMMU, which type1 cannot see.
            recordWrite: model.dma.iommuKind === 'emulated' ? (iova, length) => type1.recordWrite(iova, length) : () => {},
          });
        }
        return this.#install({ kind: 'device', model, bound: true, via: { group: file } });
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
      const devId = iommu.ctx.bind(file.model.dma);
      view.setUint32(12, devId, true);
      file.bound = true;
      file.via = { iommufd: iommu.ctx, devId };
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
      case VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT:
        return this.#attachPt(file, arg);
      default:
        return -Errno.ENOTTY;
    }
  }

  #attachPt(file: DeviceFile, arg: Uint8Array | null): number {
    const via = file.via;
    if (via === undefined || !('iommufd' in via)) return -Errno.EINVAL;
    if (arg === null || arg.byteLength < 12) return -Errno.EFAULT;
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    if (view.getUint32(0, true) < 12 || view.getUint32(4, true) !== 0) return -Errno.EINVAL;
    const result = via.iommufd.attach(via.devId, view.getUint32(8, true));
    if (result < 0) return result;
    view.setUint32(8, result, true);
    return 0;
  }

  /** The group leaves its container; the container loses its IOMMU with its last group. */
  #leaveContainer(file: GroupFile): void {
    const container = file.container;
    if (container === undefined) return;
    this.#disconnectGroup(file);
    const physical = file.group.devices.some((d) => d.dma.iommuKind === 'physical');
    container.groups.delete(file);
    if (physical) container.type1?.nonPinnedGroupLeft();
    if (container.groups.size === 0) {
      container.iommuSet = false;
      container.type1 = undefined;
    }
    file.container = undefined;
  }

  /** The devices of a group lose their DMA target (the group left, or its container closed). */
  #disconnectGroup(file: GroupFile): void {
    for (const other of this.#files.values()) {
      if (other.kind === 'device' && other.via !== undefined && 'group' in other.via && other.via.group === file) other.model.dma.connectDma(undefined);
    }
  }

  /** The fault that fires for this call, if any (its errno). */
  #injectedFault(file: OpenFile, request: number, arg: Uint8Array | null): number | undefined {
    if (this.#ioctlFaults.length === 0) return undefined;
    const op = this.#opOf(file, request, arg);
    if (op === undefined) return undefined;
    const device = file.kind === 'device' ? file.model.name : undefined;
    const hit = this.#ioctlFaults.find((f) => f.fault.op === op && (f.fault.device === undefined || f.fault.device === device));
    if (hit === undefined) return undefined;
    if (hit.passed < (hit.fault.after ?? 0)) {
      hit.passed++;
      return undefined;
    }
    hit.used++;
    if (hit.fault.times !== undefined && hit.used >= hit.fault.times) this.#ioctlFaults = this.#ioctlFaults.filter((f) => f !== hit);
    return hit.fault.errno;
  }

  #opOf(file: OpenFile, request: number, arg: Uint8Array | null): DmaIoctlOp | undefined {
    const flags = arg !== null && arg.byteLength >= 8 ? new DataView(arg.buffer, arg.byteOffset, arg.byteLength).getUint32(4, true) : 0;
    if (file.kind === 'container') {
      if (request === VfioIommuIoctl.GET_INFO) return 'VFIO_IOMMU_GET_INFO';
      if (request === VfioIommuIoctl.MAP_DMA) return 'VFIO_IOMMU_MAP_DMA';
      if (request === VfioIommuIoctl.UNMAP_DMA) return 'VFIO_IOMMU_UNMAP_DMA';
      if (request === VfioIommuIoctl.DIRTY_PAGES) {
        if (flags === DirtyPagesFlags.START) return 'VFIO_IOMMU_DIRTY_PAGES START';
        if (flags === DirtyPagesFlags.STOP) return 'VFIO_IOMMU_DIRTY_PAGES STOP';
        if (flags === DirtyPagesFlags.GET_BITMAP) return 'VFIO_IOMMU_DIRTY_PAGES GET_BITMAP';
      }
      return undefined;
    }
    if (file.kind === 'iommufd') return iommufdIoctlName(request) as DmaIoctlOp | undefined;
    if (file.kind !== 'device') return undefined;
    if (request === VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT) return 'VFIO_DEVICE_ATTACH_IOMMUFD_PT';
    if (request !== VfioIoctl.DEVICE_FEATURE) return undefined;
    const feature = flags & VfioFeatureFlags.MASK;
    if (feature === VfioFeature.DMA_LOGGING_START) return (flags & VfioFeatureFlags.PROBE) !== 0 ? 'DMA_LOGGING_PROBE' : 'DMA_LOGGING_START';
    if (feature === VfioFeature.DMA_LOGGING_STOP) return 'DMA_LOGGING_STOP';
    if (feature === VfioFeature.DMA_LOGGING_REPORT) return 'DMA_LOGGING_REPORT';
    return undefined;
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
    const feature = flags & VfioFeatureFlags.MASK;
    if (feature === VfioFeature.DMA_LOGGING_START || feature === VfioFeature.DMA_LOGGING_STOP || feature === VfioFeature.DMA_LOGGING_REPORT) {
      return this.#dmaLogging(model, feature, ops, arg.subarray(DeviceFeatureHeader.size, argsz));
    }
    if (ops === 0) return -Errno.EINVAL;
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

  /** DMA_LOGGING_START / STOP / REPORT: the kernel's checks, then the device's log. */
  #dmaLogging(model: EmulatedDeviceModel, feature: number, ops: number, payload: Uint8Array): number {
    if (!model.dma.hasLogging) return -Errno.ENOTTY;
    const { GET, SET, PROBE } = VfioFeatureFlags;
    const supported = feature === VfioFeature.DMA_LOGGING_REPORT ? GET : SET;
    const minPayload = feature === VfioFeature.DMA_LOGGING_START ? DmaLoggingControl.size : feature === VfioFeature.DMA_LOGGING_REPORT ? DmaLoggingReport.size : 0;
    if ((ops & (GET | SET) & ~supported) !== 0) return -Errno.EINVAL;
    if ((ops & PROBE) !== 0) return 0;
    if ((ops & (GET | SET)) === 0) return -Errno.EINVAL;
    if (payload.byteLength < minPayload) return -Errno.EINVAL;
    const log = model.dma.log;
    if (feature === VfioFeature.DMA_LOGGING_STOP) return log.stop();
    if (feature === VfioFeature.DMA_LOGGING_START) {
      const control = DmaLoggingControl.decode(payload);
      if (control.num_ranges === 0) return -Errno.EINVAL;
      if (control.num_ranges > LOG_MAX_RANGES) return -Errno.E2BIG;
      const array = this.memory.resolve(control.ranges, control.num_ranges * DmaLoggingRange.size);
      if (typeof array === 'string') return -Errno.EFAULT;
      const ranges: { iova: bigint; length: bigint }[] = [];
      const aligned = (x: bigint): boolean => (x & ((control.page_size - 1n + U64) % U64)) === 0n;
      for (let i = 0; i < control.num_ranges; i++) {
        const range = DmaLoggingRange.decode(array, i * DmaLoggingRange.size);
        if (!aligned(range.iova) || !aligned(range.length)) return -Errno.EINVAL;
        if (range.iova + range.length >= U64) return -Errno.EOVERFLOW;
        const last = range.iova + range.length - 1n;
        if (ranges.some((r) => range.iova <= r.iova + r.length - 1n && last >= r.iova)) return -Errno.EINVAL;
        ranges.push(range);
      }
      const chosen = log.start(control.page_size, ranges);
      if (chosen < 0) return chosen;
      DmaLoggingControl.encode({ ...control, page_size: BigInt(chosen) }, payload);
      return 0;
    }
    const report = DmaLoggingReport.decode(payload);
    const ps = report.page_size;
    if (ps < 4096n || (ps & (ps - 1n)) !== 0n) return -Errno.EINVAL;
    if (report.iova + report.length >= U64) return -Errno.EOVERFLOW;
    const bits = (report.length + ps - 1n) / ps;
    const bytes = ((bits + 63n) / 64n) * 8n;
    if (!log.active) return -Errno.EINVAL; // the emulated driver: no REPORT while logging is off
    if (report.iova + report.length > BigInt(Number.MAX_SAFE_INTEGER)) return 0; // beyond what the emulation logs
    // The caller's bitmap is pinned only when a bit has to be set (an unmapped one is no
    // error while nothing is dirty: Linux 6.12's iova_bitmap maps its pages on demand).
    if (!log.anyDirty(Number(report.iova), Number(report.length))) return 0;
    if (bytes > 2n ** 31n) return -Errno.EFAULT;
    const dst = this.memory.resolve(report.bitmap, Number(bytes));
    if (typeof dst === 'string') return -Errno.EFAULT;
    return log.report(dst, Number(report.iova), Number(report.length), Number(ps));
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
