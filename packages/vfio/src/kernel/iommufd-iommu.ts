/**
 * iommufd's DMA mapping and dirty tracking through its ioctls: IOAS alloc/map/unmap,
 * GET_HW_INFO, HWPT_ALLOC (with DIRTY_TRACKING), SET_DIRTY_TRACKING, GET_DIRTY_BITMAP and
 * DESTROY (docs/design/vfio-dirty-tracking.md §2). Every failure is a `VfioSyscallError`
 * naming the iommufd (or the device) and the ioctl.
 */
import { isErrno } from '../errors.js';
import { checked, type Syscalls } from '../syscalls/syscalls.js';
import { u64, userAddress } from '../syscalls/user-address.js';
import { DirtyTrackingUnsupported, type DirtyTrackingProbe } from '../dirty/refusal.js';
import { HwptAllocFlags, HwptDirtyTrackingFlags, IoasMapFlags, IommuHwCap, IommufdIoctl } from '../uapi/iommufd.js';
import { HwInfo, HwptAlloc, HwptGetDirtyBitmap, HwptSetDirtyTracking, IoasAlloc, IoasMap, IoasUnmap, IommuDestroy } from '../uapi/iommufd-structs.js';

/** What GET_HW_INFO says about a device's IOMMU. */
export interface IommuHwInfo {
  /** {@link IommuHwCap} bits. */
  readonly capabilities: bigint;
  /** The driver data type (0: none). */
  readonly dataType: number;
}

/** A HWPT with dirty tracking, as {@link IommufdIommu.probeDirtyTracking} found it possible. */
export interface IommufdDirtyTracking {
  /** GET_HW_INFO's answer (it has DIRTY_TRACKING). */
  readonly hwInfo: IommuHwInfo;
}

/** The ioctls of one iommufd (valid while it is open). */
export class IommufdIommu {
  /**
   * @param sys the syscall layer
   * @param fd the iommufd
   * @param name what errors call it (its path)
   */
  constructor(
    private readonly sys: Syscalls,
    readonly fd: number,
    readonly name: string,
  ) {}

  /** IOMMU_IOAS_ALLOC: a new IOAS; returns its id. */
  allocIoas(): number {
    const buf = IoasAlloc.encode({ size: IoasAlloc.size, flags: 0, out_ioas_id: 0 });
    this.#ioctl(IommufdIoctl.IOAS_ALLOC, buf, 'IOMMU_IOAS_ALLOC');
    return IoasAlloc.decode(buf).out_ioas_id;
  }

  /** IOMMU_DESTROY of an object (IOAS, HWPT). */
  destroy(id: number): void {
    this.#ioctl(IommufdIoctl.DESTROY, IommuDestroy.encode({ size: IommuDestroy.size, id }), `IOMMU_DESTROY ${id}`);
  }

  /**
   * IOMMU_IOAS_MAP of `memory` into IOAS `ioasId` at `iova` (FIXED_IOVA, readable and
   * writeable unless `flags` says otherwise); returns the IOVA.
   */
  mapIoas(
    ioasId: number,
    iova: number | bigint,
    memory: Uint8Array,
    flags: number = IoasMapFlags.FIXED_IOVA | IoasMapFlags.READABLE | IoasMapFlags.WRITEABLE,
  ): bigint {
    const op = `IOMMU_IOAS_MAP ioas ${ioasId} @0x${u64(iova, 'iova').toString(16)}+${memory.byteLength}`;
    const buf = IoasMap.encode({
      size: IoasMap.size,
      flags,
      ioas_id: ioasId,
      __reserved: 0,
      user_va: userAddress(this.sys, memory, { device: this.name, op }),
      length: BigInt(memory.byteLength),
      iova: u64(iova, 'iova'),
    });
    this.#ioctl(IommufdIoctl.IOAS_MAP, buf, op);
    return IoasMap.decode(buf).iova;
  }

  /** IOMMU_IOAS_UNMAP of `length` bytes at `iova`; returns the bytes unmapped. */
  unmapIoas(ioasId: number, iova: number | bigint, length: number | bigint): bigint {
    const buf = IoasUnmap.encode({ size: IoasUnmap.size, ioas_id: ioasId, iova: u64(iova, 'iova'), length: u64(length, 'length') });
    this.#ioctl(IommufdIoctl.IOAS_UNMAP, buf, `IOMMU_IOAS_UNMAP ioas ${ioasId} @0x${u64(iova, 'iova').toString(16)}`);
    return IoasUnmap.decode(buf).length;
  }

  /** IOMMU_GET_HW_INFO for the bound device `devId`. */
  getHwInfo(devId: number, device?: string): IommuHwInfo {
    const buf = HwInfo.encode({
      size: HwInfo.size,
      flags: 0,
      dev_id: devId,
      data_len: 0,
      data_uptr: 0n,
      out_data_type: 0,
      out_max_pasid_log2_and_reserved: 0,
      out_capabilities: 0n,
    });
    this.#ioctl(IommufdIoctl.GET_HW_INFO, buf, 'IOMMU_GET_HW_INFO', device);
    const info = HwInfo.decode(buf);
    return { capabilities: info.out_capabilities, dataType: info.out_data_type };
  }

  /**
   * Whether a HWPT with dirty tracking can be made for device `devId`, QEMU's way: GET_HW_INFO
   * reports IOMMU_HW_CAP_DIRTY_TRACKING. A device GET_HW_INFO does not know (an emulated
   * device, bound through an access object: ENOENT; or EOPNOTSUPP) is a refusal too.
   */
  probeDirtyTracking(devId: number, device?: string): DirtyTrackingProbe<IommufdDirtyTracking> {
    const context = { device: device ?? this.name, op: 'IOMMU_GET_HW_INFO' };
    let hwInfo: IommuHwInfo;
    try {
      hwInfo = this.getHwInfo(devId, device);
    } catch (error) {
      for (const errno of ['ENOENT', 'EOPNOTSUPP'] as const) {
        if (isErrno(error, errno)) {
          return { supported: false, refusal: new DirtyTrackingUnsupported('iommufd-hwpt', `GET_HW_INFO failed with ${errno}`, context, errno) };
        }
      }
      throw error;
    }
    if ((hwInfo.capabilities & BigInt(IommuHwCap.DIRTY_TRACKING)) === 0n) {
      return { supported: false, refusal: new DirtyTrackingUnsupported('iommufd-hwpt', 'the IOMMU lacks IOMMU_HW_CAP_DIRTY_TRACKING', context) };
    }
    return { supported: true, detail: { hwInfo } };
  }

  /** IOMMU_HWPT_ALLOC for device `devId` over IOAS `ptId` (with `flags`, e.g. DIRTY_TRACKING); returns the HWPT id. */
  allocHwpt(devId: number, ptId: number, flags: number = HwptAllocFlags.DIRTY_TRACKING, device?: string): number {
    const buf = HwptAlloc.encode({
      size: HwptAlloc.size,
      flags,
      dev_id: devId,
      pt_id: ptId,
      out_hwpt_id: 0,
      __reserved: 0,
      data_type: 0,
      data_len: 0,
      data_uptr: 0n,
      fault_id: 0,
      __reserved2: 0,
    });
    this.#ioctl(IommufdIoctl.HWPT_ALLOC, buf, `IOMMU_HWPT_ALLOC flags 0x${flags.toString(16)}`, device);
    return HwptAlloc.decode(buf).out_hwpt_id;
  }

  /** IOMMU_HWPT_SET_DIRTY_TRACKING on or off (enabling clears every dirty bit first). */
  setDirtyTracking(hwptId: number, enable: boolean): void {
    const buf = HwptSetDirtyTracking.encode({
      size: HwptSetDirtyTracking.size,
      flags: enable ? HwptDirtyTrackingFlags.ENABLE : 0,
      hwpt_id: hwptId,
      __reserved: 0,
    });
    this.#ioctl(IommufdIoctl.HWPT_SET_DIRTY_TRACKING, buf, `IOMMU_HWPT_SET_DIRTY_TRACKING hwpt ${hwptId} ${enable ? 'ENABLE' : 'disable'}`);
  }

  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP: sets the bit of every dirty page of `length` bytes at
   * `iova` in `bitmap` (one bit per `pageSize`; bits are only set, so zero it first) and
   * clears them in the page table unless `flags` has NO_CLEAR.
   */
  getDirtyBitmap(hwptId: number, iova: number | bigint, length: number | bigint, pageSize: number, bitmap: Uint8Array, flags = 0): void {
    const op = `IOMMU_HWPT_GET_DIRTY_BITMAP hwpt ${hwptId} @0x${u64(iova, 'iova').toString(16)}+${String(length)}`;
    const buf = HwptGetDirtyBitmap.encode({
      size: HwptGetDirtyBitmap.size,
      hwpt_id: hwptId,
      flags,
      __reserved: 0,
      iova: u64(iova, 'iova'),
      length: u64(length, 'length'),
      page_size: BigInt(pageSize),
      data: userAddress(this.sys, bitmap, { device: this.name, op }),
    });
    this.#ioctl(IommufdIoctl.HWPT_GET_DIRTY_BITMAP, buf, op);
  }

  #ioctl(request: number, arg: Uint8Array, op: string, device?: string): number {
    return checked(this.sys.ioctl(this.fd, request, arg), 'ioctl', { device: device ?? this.name, op });
  }
}
