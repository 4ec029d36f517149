/**
 * The objects of one emulated iommufd — IOASes with their mappings, HWPTs (automatic or
 * allocated, with or without dirty tracking), bound devices and the access objects of
 * emulated devices — and its ioctls, checked in the kernel's order with the kernel's
 * errnos (docs/design/vfio-dirty-tracking.md §2, §5). Results are ≥ 0 or −errno.
 */
import { Errno } from '../errors.js';
import {
  HwptAllocFlags,
  HwptDirtyTrackingFlags,
  HwptGetDirtyBitmapFlags,
  IoasMapFlags,
  IommuHwCap,
  IommufdIoctl,
  IommufdMinSize,
} from '../uapi/iommufd.js';
import { HwInfo, HwptAlloc, HwptGetDirtyBitmap, HwptSetDirtyTracking, IoasAlloc, IoasMap, IoasUnmap, IommuDestroy } from '../uapi/iommufd-structs.js';
import { anyDirtyIn, orDirtyInto } from './dirty-bits.js';
import { DmaMappingTable, IOMMU_PAGE, type DmaMapping } from './dma-mappings.js';
import type { DmaTarget } from './dma-target.js';
import type { EmulatedUserMemory } from './user-memory.js';

const U64 = 2n ** 64n;
const ULONG_MAX = U64 - 1n;

/** What the iommufd needs to know about a device it binds. */
export interface IommufdDeviceModel {
  /** The device's name. */
  readonly name: string;
  /** `emulated`: an mdev, bound through an access object; `physical`: a device behind an IOMMU. */
  readonly iommuKind: 'emulated' | 'physical';
  /** Whether its IOMMU can track dirty pages (GET_HW_INFO's DIRTY_TRACKING). */
  readonly iommuDirtyTracking: boolean;
  /** Points the device's DMA at an address space (undefined: detached). */
  connectDma(target: DmaTarget | undefined): void;
}

interface IoasObject {
  readonly kind: 'ioas';
  readonly id: number;
  readonly mappings: DmaMappingTable;
  readonly hwpts: Set<HwptObject>;
  accesses: number;
}

interface HwptObject {
  readonly kind: 'hwpt';
  readonly id: number;
  readonly ioas: IoasObject;
  /** Allocated with DIRTY_TRACKING: it has dirty ops and enforces tracking. */
  readonly dirtyOps: boolean;
  /** Made by an attach to an IOAS. */
  readonly auto: boolean;
  tracking: boolean;
  readonly dirty: Map<DmaMapping, Uint32Array>;
  devices: number;
}

interface DeviceObject {
  readonly kind: 'device' | 'access';
  readonly id: number;
  readonly model: IommufdDeviceModel;
  hwpt: HwptObject | undefined;
  ioas: IoasObject | undefined;
}

type IommufdObject = IoasObject | HwptObject | DeviceObject;

/** The size of the kernel's struct for each command. */
const STRUCT_SIZE: Readonly<Record<number, number>> = {
  [IommufdIoctl.DESTROY]: IommuDestroy.size,
  [IommufdIoctl.IOAS_ALLOC]: IoasAlloc.size,
  [IommufdIoctl.IOAS_MAP]: IoasMap.size,
  [IommufdIoctl.IOAS_UNMAP]: IoasUnmap.size,
  [IommufdIoctl.HWPT_ALLOC]: HwptAlloc.size,
  [IommufdIoctl.GET_HW_INFO]: HwInfo.size,
  [IommufdIoctl.HWPT_SET_DIRTY_TRACKING]: HwptSetDirtyTracking.size,
  [IommufdIoctl.HWPT_GET_DIRTY_BITMAP]: HwptGetDirtyBitmap.size,
};

/** One emulated `/dev/iommu` file. */
export class EmulatedIommufd {
  readonly #objects = new Map<number, IommufdObject>();
  #nextId = 1;

  /** @param memory user memory, to resolve pointers */
  constructor(private readonly memory: EmulatedUserMemory) {}

  /** Binds a device (VFIO_DEVICE_BIND_IOMMUFD); returns its id (an access object's for an emulated device). */
  bind(model: IommufdDeviceModel): number {
    const id = this.#nextId++;
    this.#objects.set(id, { kind: model.iommuKind === 'physical' ? 'device' : 'access', id, model, hwpt: undefined, ioas: undefined });
    return id;
  }

  /** Unbinds a device (its fd closed): detaches it and forgets the id. */
  unbind(id: number): void {
    const dev = this.#objects.get(id);
    if (dev === undefined || (dev.kind !== 'device' && dev.kind !== 'access')) return;
    this.#detach(dev);
    this.#objects.delete(id);
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT: attaches device `id` to IOAS or HWPT `ptId`; returns the
   * id to write back (the HWPT used; the IOAS for an emulated device) or −errno.
   */
  attach(id: number, ptId: number): number {
    const dev = this.#objects.get(id);
    if (dev === undefined || (dev.kind !== 'device' && dev.kind !== 'access')) return -Errno.ENOENT;
    if (dev.hwpt !== undefined || dev.ioas !== undefined) return -Errno.EBUSY;
    const pt = this.#objects.get(ptId);
    if (dev.kind === 'access') {
      if (pt === undefined || pt.kind !== 'ioas') return -Errno.ENOENT;
      dev.ioas = pt;
      pt.accesses++;
      dev.model.connectDma({ kind: 'iommufd-ioas', mappings: pt.mappings, recordWrite: () => {} });
      return ptId;
    }
    if (pt === undefined) return -Errno.ENOENT;
    let hwpt: HwptObject;
    if (pt.kind === 'ioas') {
      const existing = [...pt.hwpts].find((h) => h.auto);
      hwpt = existing ?? this.#newHwpt(pt, false, true);
    } else if (pt.kind === 'hwpt') {
      if (pt.dirtyOps && !dev.model.iommuDirtyTracking) return -Errno.EINVAL; // the HWPT enforces dirty tracking
      hwpt = pt;
    } else return -Errno.EINVAL;
    hwpt.devices++;
    dev.hwpt = hwpt;
    dev.model.connectDma({
      kind: hwpt.dirtyOps ? 'iommufd-hwpt' : 'iommufd-ioas',
      mappings: hwpt.ioas.mappings,
      recordWrite: (iova, length) => this.#recordWrite(hwpt, iova, length),
    });
    return hwpt.id;
  }

  /** An iommufd ioctl: the generic `size` checks, then the command; −ENOTTY for commands not emulated. */
  ioctl(request: number, arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < 4) return -Errno.EFAULT;
    const size = new DataView(arg.buffer, arg.byteOffset, arg.byteLength).getUint32(0, true);
    const min = IommufdMinSize[request];
    const ksize = STRUCT_SIZE[request];
    if (min === undefined || ksize === undefined) return -Errno.ENOTTY; // no CONFIG_IOMMUFD_TEST, no VFIO compat here
    if (size < min) return -Errno.EINVAL;
    if (arg.byteLength < size) return -Errno.EFAULT;
    if (size > ksize && arg.subarray(ksize, size).some((b) => b !== 0)) return -Errno.E2BIG;
    const cmd = new Uint8Array(ksize);
    cmd.set(arg.subarray(0, Math.min(size, ksize)));
    const result = this.#execute(request, cmd);
    if (result >= 0) arg.set(cmd.subarray(0, Math.min(size, ksize)));
    return result;
  }

  #execute(request: number, cmd: Uint8Array): number {
    switch (request) {
      case IommufdIoctl.DESTROY:
        return this.#destroy(IommuDestroy.decode(cmd).id);
      case IommufdIoctl.IOAS_ALLOC: {
        const c = IoasAlloc.decode(cmd);
        if (c.flags !== 0) return -Errno.EOPNOTSUPP;
        const id = this.#nextId++;
        this.#objects.set(id, { kind: 'ioas', id, mappings: new DmaMappingTable(), hwpts: new Set(), accesses: 0 });
        IoasAlloc.encode({ ...c, out_ioas_id: id }, cmd);
        return 0;
      }
      case IommufdIoctl.IOAS_MAP:
        return this.#map(cmd);
      case IommufdIoctl.IOAS_UNMAP:
        return this.#unmap(cmd);
      case IommufdIoctl.HWPT_ALLOC:
        return this.#hwptAlloc(cmd);
      case IommufdIoctl.GET_HW_INFO: {
        const c = HwInfo.decode(cmd);
        if (c.flags !== 0 || (c.out_max_pasid_log2_and_reserved & 0xffffff00) !== 0) return -Errno.EOPNOTSUPP;
        const dev = this.#objects.get(c.dev_id);
        if (dev === undefined || dev.kind !== 'device') return -Errno.ENOENT;
        const caps = dev.model.iommuDirtyTracking ? BigInt(IommuHwCap.DIRTY_TRACKING) : 0n;
        HwInfo.encode({ ...c, data_len: 0, out_data_type: 0, out_max_pasid_log2_and_reserved: 0, out_capabilities: caps }, cmd);
        return 0;
      }
      case IommufdIoctl.HWPT_SET_DIRTY_TRACKING: {
        const c = HwptSetDirtyTracking.decode(cmd);
        if ((c.flags & ~HwptDirtyTrackingFlags.ENABLE) !== 0) return -Errno.EOPNOTSUPP;
        const hwpt = this.#objects.get(c.hwpt_id);
        if (hwpt === undefined || hwpt.kind !== 'hwpt') return -Errno.ENOENT;
        if (!hwpt.dirtyOps) return -Errno.EOPNOTSUPP;
        const enable = (c.flags & HwptDirtyTrackingFlags.ENABLE) !== 0;
        if (enable) hwpt.dirty.clear();
        hwpt.tracking = enable;
        return 0;
      }
      case IommufdIoctl.HWPT_GET_DIRTY_BITMAP:
        return this.#getDirtyBitmap(cmd);
      default:
        return -Errno.ENOTTY;
    }
  }

  #map(cmd: Uint8Array): number {
    const c = IoasMap.decode(cmd);
    const known = IoasMapFlags.FIXED_IOVA | IoasMapFlags.WRITEABLE | IoasMapFlags.READABLE;
    if ((c.flags & ~known) !== 0 || c.__reserved !== 0) return -Errno.EOPNOTSUPP;
    if (c.iova >= ULONG_MAX || c.length >= ULONG_MAX) return -Errno.EOVERFLOW;
    if ((c.flags & (IoasMapFlags.WRITEABLE | IoasMapFlags.READABLE)) === 0) return -Errno.EINVAL;
    const ioas = this.#objects.get(c.ioas_id);
    if (ioas === undefined || ioas.kind !== 'ioas') return -Errno.ENOENT;
    const page = BigInt(IOMMU_PAGE);
    if (c.length === 0n || (c.length & (page - 1n)) !== 0n) return -Errno.EINVAL;
    const fixed = (c.flags & IoasMapFlags.FIXED_IOVA) !== 0;
    if (fixed && (c.iova & (page - 1n)) !== 0n) return -Errno.EINVAL;
    if (c.length > BigInt(Number.MAX_SAFE_INTEGER) || (fixed && c.iova + c.length > BigInt(Number.MAX_SAFE_INTEGER))) return -Errno.EINVAL;
    const length = Number(c.length);
    const iova = fixed ? Number(c.iova) : ioas.mappings.freeRange(length);
    if (ioas.mappings.overlaps(iova, length)) return -Errno.EEXIST;
    const memory = this.memory.resolve(c.user_va, length);
    if (typeof memory === 'string') return -Errno.EFAULT;
    ioas.mappings.add({ iova, size: length, bytes: memory, writable: (c.flags & IoasMapFlags.WRITEABLE) !== 0 });
    IoasMap.encode({ ...c, iova: BigInt(iova) }, cmd);
    return 0;
  }

  #unmap(cmd: Uint8Array): number {
    const c = IoasUnmap.decode(cmd);
    const ioas = this.#objects.get(c.ioas_id);
    if (ioas === undefined || ioas.kind !== 'ioas') return -Errno.ENOENT;
    let victims: DmaMapping[];
    if (c.iova === 0n && c.length === ULONG_MAX) victims = [...ioas.mappings.mappings];
    else {
      if (c.iova >= ULONG_MAX || c.length >= ULONG_MAX) return -Errno.EOVERFLOW;
      if (c.length === 0n) return -Errno.EINVAL;
      if (c.iova + c.length - 1n >= U64) return -Errno.EOVERFLOW;
      const first = Number(c.iova > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : c.iova);
      const lastBig = c.iova + c.length - 1n;
      const last = Number(lastBig > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : lastBig);
      victims = ioas.mappings.within(first, last);
      if (victims.some((m) => m.iova < first || m.iova + m.size - 1 > last)) return -Errno.ENOENT;
      if (victims.length === 0) return -Errno.ENOENT;
    }
    let unmapped = 0;
    for (const m of victims) {
      ioas.mappings.remove(m);
      for (const h of ioas.hwpts) h.dirty.delete(m);
      unmapped += m.size;
    }
    IoasUnmap.encode({ ...c, length: BigInt(unmapped) }, cmd);
    return 0;
  }

  #hwptAlloc(cmd: Uint8Array): number {
    const c = HwptAlloc.decode(cmd);
    if (c.__reserved !== 0) return -Errno.EOPNOTSUPP;
    if ((c.data_type === 0 && c.data_len !== 0) || (c.data_type !== 0 && c.data_len === 0)) return -Errno.EINVAL;
    const dev = this.#objects.get(c.dev_id);
    if (dev === undefined || dev.kind !== 'device') return -Errno.ENOENT;
    const pt = this.#objects.get(c.pt_id);
    if (pt === undefined) return -Errno.ENOENT;
    if (pt.kind === 'hwpt') return -Errno.EOPNOTSUPP; // nesting: the emulated IOMMU has no nested page tables
    if (pt.kind !== 'ioas') return -Errno.EINVAL;
    if ((c.flags & ~(HwptAllocFlags.NEST_PARENT | HwptAllocFlags.DIRTY_TRACKING)) !== 0) return -Errno.EOPNOTSUPP;
    const dirty = (c.flags & HwptAllocFlags.DIRTY_TRACKING) !== 0;
    if (dirty && !dev.model.iommuDirtyTracking) return -Errno.EOPNOTSUPP;
    if (c.data_type !== 0) return -Errno.EOPNOTSUPP;
    const hwpt = this.#newHwpt(pt, dirty, false);
    HwptAlloc.encode({ ...c, out_hwpt_id: hwpt.id }, cmd);
    return 0;
  }

  #getDirtyBitmap(cmd: Uint8Array): number {
    const c = HwptGetDirtyBitmap.decode(cmd);
    if ((c.flags & ~HwptGetDirtyBitmapFlags.NO_CLEAR) !== 0 || c.__reserved !== 0) return -Errno.EOPNOTSUPP;
    const hwpt = this.#objects.get(c.hwpt_id);
    if (hwpt === undefined || hwpt.kind !== 'hwpt') return -Errno.ENOENT;
    const lastIova = (c.iova + c.length - 1n + U64) % U64;
    if (c.iova + c.length - 1n >= U64 || c.length === 0n) return -Errno.EOVERFLOW;
    if (c.iova > ULONG_MAX || lastIova > ULONG_MAX) return -Errno.EOVERFLOW;
    const page = BigInt(IOMMU_PAGE);
    if ((c.iova & (page - 1n)) !== 0n || ((lastIova + 1n) & (page - 1n)) !== 0n) return -Errno.EINVAL;
    if (c.page_size === 0n) return -Errno.EINVAL;
    if ((c.iova & (c.page_size - 1n)) !== 0n || ((lastIova + 1n) & (c.page_size - 1n)) !== 0n) return -Errno.EINVAL;
    if (!hwpt.dirtyOps) return -Errno.EOPNOTSUPP;
    // The IOMMU driver refuses to read dirty bits it is not tracking (Intel, AMD and the
    // selftest mock all answer EINVAL; Linux 6.12.118 passes it on).
    if (!hwpt.tracking) return -Errno.EINVAL;
    if (c.iova + c.length > BigInt(Number.MAX_SAFE_INTEGER)) return 0; // beyond what the emulation maps: nothing dirty
    const iova = Number(c.iova);
    const length = Number(c.length);
    const sources = hwpt.ioas.mappings.within(iova, iova + length - 1).flatMap((m) => {
      const words = hwpt.dirty.get(m);
      return words === undefined ? [] : [{ words, iova: m.iova, pageSize: IOMMU_PAGE, pages: m.size / IOMMU_PAGE }];
    });
    // The caller's bitmap is pinned only when a bit has to be set (iova_bitmap maps its pages on demand).
    if (!sources.some((src) => anyDirtyIn(iova, length, src))) return 0;
    const bits = (c.length + c.page_size - 1n) / c.page_size;
    const bytes = ((bits + 63n) / 64n) * 8n;
    if (bytes > 2n ** 31n) return -Errno.EFAULT;
    const dst = this.memory.resolve(c.data, Number(bytes));
    if (typeof dst === 'string') return -Errno.EFAULT;
    const clear = (c.flags & HwptGetDirtyBitmapFlags.NO_CLEAR) === 0;
    for (const src of sources) orDirtyInto(dst, iova, length, Number(c.page_size), src, clear);
    return 0;
  }

  #destroy(id: number): number {
    const obj = this.#objects.get(id);
    if (obj === undefined) return -Errno.ENOENT;
    if (obj.kind === 'device' || obj.kind === 'access') return -Errno.EBUSY;
    if (obj.kind === 'ioas' && (obj.hwpts.size > 0 || obj.accesses > 0)) return -Errno.EBUSY;
    if (obj.kind === 'hwpt') {
      if (obj.devices > 0) return -Errno.EBUSY;
      obj.ioas.hwpts.delete(obj);
    }
    this.#objects.delete(id);
    return 0;
  }

  #newHwpt(ioas: IoasObject, dirtyOps: boolean, auto: boolean): HwptObject {
    const hwpt: HwptObject = { kind: 'hwpt', id: this.#nextId++, ioas, dirtyOps, auto, tracking: false, dirty: new Map(), devices: 0 };
    this.#objects.set(hwpt.id, hwpt);
    ioas.hwpts.add(hwpt);
    return hwpt;
  }

  #detach(dev: DeviceObject): void {
    dev.model.connectDma(undefined);
    if (dev.hwpt !== undefined) {
      dev.hwpt.devices--;
      if (dev.hwpt.auto && dev.hwpt.devices === 0) {
        dev.hwpt.ioas.hwpts.delete(dev.hwpt);
        this.#objects.delete(dev.hwpt.id);
      }
      dev.hwpt = undefined;
    }
    if (dev.ioas !== undefined) {
      dev.ioas.accesses--;
      dev.ioas = undefined;
    }
  }

  #recordWrite(hwpt: HwptObject, iova: number, length: number): void {
    if (!hwpt.tracking) return;
    const m = hwpt.ioas.mappings.find(iova);
    if (m === undefined) return;
    let words = hwpt.dirty.get(m);
    if (words === undefined) {
      words = new Uint32Array(Math.ceil(m.size / IOMMU_PAGE / 32));
      hwpt.dirty.set(m, words);
    }
    const first = Math.floor((iova - m.iova) / IOMMU_PAGE);
    const last = Math.floor((iova + length - 1 - m.iova) / IOMMU_PAGE);
    for (let p = first; p <= last && p * IOMMU_PAGE < m.size; p++) words[p >>> 5] = ((words[p >>> 5] as number) | (1 << (p & 31))) >>> 0;
  }
}
