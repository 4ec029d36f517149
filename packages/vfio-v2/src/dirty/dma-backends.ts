/**
 * The two kinds of VFIO address space guest RAM is mapped into for DMA: a type1 container
 * (MAP_DMA / UNMAP_DMA) and an iommufd IOAS (IOAS_MAP / IOAS_UNMAP), where a device is also
 * attached — to a HWPT with dirty tracking when its IOMMU can track, else to the IOAS, as
 * QEMU's iommufd backend does (docs/design/vfio-dirty-tracking.md §2, §6).
 */
import {
  HwptAllocFlags,
  isErrno,
  type DirtyTrackingUnsupported,
  type IommufdContext,
  type Type1Iommu,
  type VfioContainer,
  type VfioDevice,
} from '@savevm/vfio';

/** How a device ended up attached to an iommufd IOAS. */
export interface IommufdAttachment {
  /** The HWPT with dirty tracking it is attached to, or undefined (attached to the IOAS). */
  readonly dirtyHwpt: number | undefined;
  /** Why it has no HWPT with dirty tracking, when it has none. */
  readonly refusal: DirtyTrackingUnsupported | undefined;
}

/** A type1 container's DMA mappings. */
export class Type1DmaBackend {
  /** Which backend. */
  readonly kind = 'type1';
  /** The container's IOMMU. */
  readonly iommu: Type1Iommu;

  /** @param container the container the devices' groups are attached to */
  constructor(container: VfioContainer) {
    this.iommu = container.iommu;
  }

  /** The container, for messages. */
  get name(): string {
    return this.iommu.name;
  }

  /** MAP_DMA of `bytes` at `iova`. */
  map(iova: number, bytes: Uint8Array): void {
    this.iommu.mapDma(iova, bytes);
  }

  /** UNMAP_DMA of `size` bytes at `iova`. */
  unmap(iova: number, size: number): void {
    this.iommu.unmapDma(iova, size);
  }
}

/** An iommufd IOAS's DMA mappings and its devices' attachments. */
export class IommufdDmaBackend {
  /** Which backend. */
  readonly kind = 'iommufd';
  /** The IOAS the RAM is mapped into. */
  readonly ioas: number;

  /**
   * @param context the iommufd the devices are bound to
   * @param ioas an IOAS to use (default: a new one)
   */
  constructor(
    readonly context: IommufdContext,
    ioas?: number,
  ) {
    this.ioas = ioas ?? context.iommu.allocIoas();
  }

  /** The iommufd, for messages. */
  get name(): string {
    return `${this.context.iommu.name} ioas ${this.ioas}`;
  }

  /** IOAS_MAP of `bytes` at `iova`. */
  map(iova: number, bytes: Uint8Array): void {
    this.context.iommu.mapIoas(this.ioas, iova, bytes);
  }

  /** IOAS_UNMAP of `size` bytes at `iova`. */
  unmap(iova: number, size: number): void {
    this.context.iommu.unmapIoas(this.ioas, iova, size);
  }

  /**
   * Attaches a device opened through {@link context}: when GET_HW_INFO says its IOMMU tracks
   * dirty pages, to a new HWPT allocated with DIRTY_TRACKING; otherwise (an emulated device
   * GET_HW_INFO does not know, or an IOMMU without tracking) to the IOAS.
   */
  attach(device: VfioDevice): IommufdAttachment {
    const devId = this.context.deviceId(device);
    if (devId === undefined) throw new Error(`vfio device ${device.name} was not opened through ${this.context.iommu.name}`);
    const probe = this.context.iommu.probeDirtyTracking(devId, device.name);
    if (probe.supported) {
      let hwpt: number | undefined;
      try {
        hwpt = this.context.iommu.allocHwpt(devId, this.ioas, HwptAllocFlags.DIRTY_TRACKING, device.name);
      } catch (error) {
        if (!isErrno(error, 'EOPNOTSUPP')) throw error;
      }
      if (hwpt !== undefined) {
        this.context.attach(device, hwpt);
        return { dirtyHwpt: hwpt, refusal: undefined };
      }
    }
    this.context.attach(device, this.ioas);
    return { dirtyHwpt: undefined, refusal: probe.supported ? undefined : probe.refusal };
  }
}

/** Either backend. */
export type VfioDmaBackend = Type1DmaBackend | IommufdDmaBackend;
