/**
 * The type1 IOMMU of a VFIO container, through its ioctls: GET_INFO with its capabilities,
 * MAP_DMA / UNMAP_DMA (with the dirty bitmap of what is unmapped), and DIRTY_PAGES
 * START / STOP / GET_BITMAP (docs/design/vfio-dirty-tracking.md §1). Every failure is a
 * `VfioSyscallError` naming the container and the ioctl.
 */
import { VfioError } from '../errors.js';
import { checked, type Syscalls } from '../syscalls/syscalls.js';
import { u64, userAddress } from '../syscalls/user-address.js';
import { CapabilityChainError } from '../uapi/capabilities.js';
import { DirtyPagesFlags, DmaMapFlags, DmaUnmapFlags, VfioIommuIoctl, dirtyBitmapBytes } from '../uapi/type1.js';
import { parseType1Info, type Type1IommuInfo, type Type1MigrationCap } from '../uapi/type1-info.js';
import { Type1DirtyBitmap, Type1DirtyBitmapGet, Type1DmaMap, Type1DmaUnmap, Type1Info, VfioBitmap } from '../uapi/type1-structs.js';
import { DirtyTrackingUnsupported, type DirtyTrackingProbe } from '../dirty/refusal.js';

/** Largest GET_INFO buffer accepted (the kernel's requested argsz is not trusted beyond this). */
export const MAX_TYPE1_INFO_SIZE = 64 * 1024;

/** What a working type1 dirty tracker offers (from the MIGRATION capability). */
export interface Type1DirtyTracking {
  /** The page size bitmaps use: the smallest IOMMU page. */
  readonly pageSize: number;
  /** The largest bitmap the kernel fills, bytes. */
  readonly maxBitmapBytes: number;
  /** The capability as decoded. */
  readonly capability: Type1MigrationCap;
}

/** The type1 IOMMU behind a container fd (valid while the container is open and has its IOMMU set). */
export class Type1Iommu {
  /**
   * @param sys the syscall layer
   * @param fd the container fd
   * @param name what errors call the container (its path)
   */
  constructor(
    private readonly sys: Syscalls,
    readonly fd: number,
    readonly name: string,
  ) {}

  /** VFIO_IOMMU_GET_INFO, asked again with the size the kernel wants when the capabilities did not fit. */
  getInfo(): Type1IommuInfo {
    const op = 'VFIO_IOMMU_GET_INFO';
    let buf = Type1Info.encode({ argsz: Type1Info.size, flags: 0, iova_pgsizes: 0n, cap_offset: 0, pad: 0 });
    this.#ioctl(VfioIommuIoctl.GET_INFO, buf, op);
    const wanted = Type1Info.decode(buf).argsz;
    if (wanted > buf.byteLength) {
      if (wanted > MAX_TYPE1_INFO_SIZE) throw new VfioError(`GET_INFO wants ${wanted} bytes, limit ${MAX_TYPE1_INFO_SIZE}`, { device: this.name, op });
      buf = new Uint8Array(wanted);
      Type1Info.encode({ argsz: wanted, flags: 0, iova_pgsizes: 0n, cap_offset: 0, pad: 0 }, buf);
      this.#ioctl(VfioIommuIoctl.GET_INFO, buf, op);
    }
    try {
      return parseType1Info(buf);
    } catch (error) {
      if (error instanceof CapabilityChainError) throw new VfioError(`bad capability chain: ${error.message}`, { device: this.name, op }, { cause: error });
      throw error;
    }
  }

  /**
   * Whether the container tracks dirty pages, QEMU's way: GET_INFO has the MIGRATION
   * capability and its page sizes include the host page. A missing capability (the iommufd
   * compat container has none) or another page size is a refusal; a failing GET_INFO throws.
   */
  probeDirtyTracking(hostPageSize = 4096): DirtyTrackingProbe<Type1DirtyTracking> {
    const info = this.getInfo();
    const context = { device: this.name, op: 'VFIO_IOMMU_GET_INFO' };
    const cap = info.migration;
    if (cap === undefined) {
      return { supported: false, refusal: new DirtyTrackingUnsupported('type1-container', 'GET_INFO has no MIGRATION capability', context) };
    }
    if ((cap.pgsizeBitmap & BigInt(hostPageSize)) === 0n) {
      return {
        supported: false,
        refusal: new DirtyTrackingUnsupported(
          'type1-container',
          `the MIGRATION capability's page sizes 0x${cap.pgsizeBitmap.toString(16)} lack the host page ${hostPageSize}`,
          context,
        ),
      };
    }
    const max = cap.maxDirtyBitmapSize > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(cap.maxDirtyBitmapSize);
    return { supported: true, detail: { pageSize: hostPageSize, maxBitmapBytes: max, capability: cap } };
  }

  /** VFIO_IOMMU_MAP_DMA of `memory` (page-aligned, whole pages) at `iova`. */
  mapDma(iova: number | bigint, memory: Uint8Array, flags: number = DmaMapFlags.READ | DmaMapFlags.WRITE): void {
    const op = `VFIO_IOMMU_MAP_DMA @0x${u64(iova, 'iova').toString(16)}+${memory.byteLength}`;
    const buf = Type1DmaMap.encode({
      argsz: Type1DmaMap.size,
      flags,
      vaddr: userAddress(this.sys, memory, { device: this.name, op }),
      iova: u64(iova, 'iova'),
      size: BigInt(memory.byteLength),
    });
    this.#ioctl(VfioIommuIoctl.MAP_DMA, buf, op);
  }

  /** VFIO_IOMMU_UNMAP_DMA of `size` bytes at `iova`; returns the bytes unmapped. */
  unmapDma(iova: number | bigint, size: number | bigint): bigint {
    const buf = Type1DmaUnmap.encode({ argsz: Type1DmaUnmap.size, flags: 0, iova: u64(iova, 'iova'), size: u64(size, 'size') });
    this.#ioctl(VfioIommuIoctl.UNMAP_DMA, buf, `VFIO_IOMMU_UNMAP_DMA @0x${u64(iova, 'iova').toString(16)}`);
    return Type1DmaUnmap.decode(buf).size;
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA with GET_DIRTY_BITMAP: the kernel writes the range's dirty pages
   * (one bit per `pageSize`, bit n = `iova + n × pageSize`) into `bitmap`, then unmaps.
   * Zero `bitmap` first: the kernel writes only the words of mapped ranges. Returns the
   * bytes unmapped.
   */
  unmapDmaGetBitmap(iova: number | bigint, size: number | bigint, pageSize: number, bitmap: Uint8Array): bigint {
    const op = `VFIO_IOMMU_UNMAP_DMA GET_DIRTY_BITMAP @0x${u64(iova, 'iova').toString(16)}`;
    const buf = new Uint8Array(Type1DmaUnmap.size + VfioBitmap.size);
    Type1DmaUnmap.encode({ argsz: buf.byteLength, flags: DmaUnmapFlags.GET_DIRTY_BITMAP, iova: u64(iova, 'iova'), size: u64(size, 'size') }, buf);
    VfioBitmap.encode(
      { pgsize: BigInt(pageSize), size: BigInt(bitmap.byteLength), data: userAddress(this.sys, bitmap, { device: this.name, op }) },
      buf,
      Type1DmaUnmap.size,
    );
    this.#ioctl(VfioIommuIoctl.UNMAP_DMA, buf, op);
    return Type1DmaUnmap.decode(buf).size;
  }

  /** VFIO_IOMMU_DIRTY_PAGES START (idempotent in the kernel). */
  startDirtyTracking(): void {
    this.#dirtyPages(DirtyPagesFlags.START, 'START');
  }

  /** VFIO_IOMMU_DIRTY_PAGES STOP (idempotent in the kernel). */
  stopDirtyTracking(): void {
    this.#dirtyPages(DirtyPagesFlags.STOP, 'STOP');
  }

  /**
   * VFIO_IOMMU_DIRTY_PAGES GET_BITMAP for `size` bytes at `iova` (the range must start and
   * end on mapping boundaries): bits of the range's dirty pages are written into `bitmap`
   * (zero it first), and the kernel forgets them (pinned pages stay dirty).
   */
  getDirtyBitmap(iova: number | bigint, size: number | bigint, pageSize: number, bitmap: Uint8Array): void {
    const op = `VFIO_IOMMU_DIRTY_PAGES GET_BITMAP @0x${u64(iova, 'iova').toString(16)}+${String(size)}`;
    const buf = new Uint8Array(Type1DirtyBitmap.size + Type1DirtyBitmapGet.size);
    Type1DirtyBitmap.encode({ argsz: buf.byteLength, flags: DirtyPagesFlags.GET_BITMAP }, buf);
    Type1DirtyBitmapGet.encode(
      {
        iova: u64(iova, 'iova'),
        size: u64(size, 'size'),
        pgsize: BigInt(pageSize),
        bitmap_size: BigInt(bitmap.byteLength),
        data: userAddress(this.sys, bitmap, { device: this.name, op }),
      },
      buf,
      Type1DirtyBitmap.size,
    );
    this.#ioctl(VfioIommuIoctl.DIRTY_PAGES, buf, op);
  }

  /** Bytes of the bitmap a range of `size` bytes needs at `pageSize` (whole u64 words). */
  static bitmapBytes(size: number, pageSize: number): number {
    return dirtyBitmapBytes(Math.ceil(size / pageSize));
  }

  #dirtyPages(flag: number, what: string): void {
    const buf = Type1DirtyBitmap.encode({ argsz: Type1DirtyBitmap.size, flags: flag });
    this.#ioctl(VfioIommuIoctl.DIRTY_PAGES, buf, `VFIO_IOMMU_DIRTY_PAGES ${what}`);
  }

  #ioctl(request: number, arg: Uint8Array, op: string): number {
    return checked(this.sys.ioctl(this.fd, request, arg), 'ioctl', { device: this.name, op });
  }
}
