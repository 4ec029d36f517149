/**
 * The emulated device's regions: the PCI ones (BAR0 and config space as plain memory, the
 * rest empty) and whatever its migration interface adds after them. pread, pwrite and mmap
 * are checked here as vfio-pci checks them, then reach the region's backing.
 */
import { Errno } from '../errors.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_NUM_REGIONS, VfioRegionFlags } from '../uapi/constants.js';
import type { RegionCapability } from '../uapi/capabilities.js';

/** A region as the emulated device describes it. */
export interface EmulatedRegion {
  /** Region index. */
  readonly index: number;
  /** `VfioRegionFlags`. */
  readonly flags: number;
  /** Size, bytes. */
  readonly size: number;
  /** Capabilities to report. */
  readonly capabilities: readonly RegionCapability[];
}

/** What stands behind one region: its description, and its bytes for pread, pwrite and mmap. */
export interface RegionBacking {
  /** `VfioRegionFlags`. */
  readonly flags: number;
  /** Size, bytes. */
  readonly size: number;
  /** Capabilities to report. */
  readonly capabilities: readonly RegionCapability[];
  /** pread of `into.byteLength` bytes at `offset` (inside the region): bytes or −errno. */
  read(offset: number, into: Uint8Array): number;
  /** pwrite of `from` at `offset` (inside the region): bytes or −errno. */
  write(offset: number, from: Uint8Array): number;
  /** The live bytes an mmap of `length` at `offset` reaches (flags, alignment and sparse areas already checked), or −errno. */
  map(offset: number, length: number): Uint8Array | number;
}

/** A region of plain device memory (BAR0, config space): read and written as bytes, never mapped. */
export class MemoryRegion implements RegionBacking {
  /** Readable and writable. */
  readonly flags = VfioRegionFlags.READ | VfioRegionFlags.WRITE;
  /** None. */
  readonly capabilities: readonly RegionCapability[] = [];

  /** @param bytes the region's memory */
  constructor(private readonly bytes: Uint8Array) {}

  /** The memory's length. */
  get size(): number {
    return this.bytes.byteLength;
  }

  /** Copies out of the memory. */
  read(offset: number, into: Uint8Array): number {
    into.set(this.bytes.subarray(offset, offset + into.byteLength));
    return into.byteLength;
  }

  /** Copies into the memory. */
  write(offset: number, from: Uint8Array): number {
    this.bytes.set(from, offset);
    return from.byteLength;
  }

  /** EINVAL: the region has no MMAP flag. */
  map(): number {
    return -Errno.EINVAL;
  }
}

/** A region the device does not implement: no flags, size 0. */
const EMPTY_REGION: RegionBacking = {
  flags: 0,
  size: 0,
  capabilities: [],
  read: (_offset, into) => into.byteLength,
  write: (_offset, from) => from.byteLength,
  map: () => -Errno.EINVAL,
};

/** The page size mmap offsets must be aligned to. */
const MMAP_PAGE_SIZE = 4096;

/** The device's region table, indexed as VFIO_DEVICE_GET_REGION_INFO indexes it. */
export class DeviceRegions {
  readonly #regions: readonly RegionBacking[];

  /**
   * @param bar0 BAR0's memory
   * @param configSpace the PCI config space
   * @param extra regions after the PCI ones (from index `VFIO_PCI_NUM_REGIONS` on)
   */
  constructor(bar0: Uint8Array, configSpace: Uint8Array, extra: readonly RegionBacking[]) {
    const pci = Array.from({ length: VFIO_PCI_NUM_REGIONS }, (): RegionBacking => EMPTY_REGION);
    pci[0] = new MemoryRegion(bar0);
    pci[VFIO_PCI_CONFIG_REGION_INDEX] = new MemoryRegion(configSpace);
    this.#regions = [...pci, ...extra];
  }

  /** Number of regions. */
  get count(): number {
    return this.#regions.length;
  }

  /** Description of region `index`, or undefined when out of range. */
  describe(index: number): EmulatedRegion | undefined {
    const region = this.#backing(index);
    if (region === undefined) return undefined;
    return { index, flags: region.flags, size: region.size, capabilities: region.capabilities };
  }

  /** pread inside region `index`; bytes or −errno (EINVAL outside it). */
  read(index: number, offset: number, into: Uint8Array): number {
    const region = this.#backing(index);
    if (region === undefined || offset < 0 || offset + into.byteLength > region.size) return -Errno.EINVAL;
    return region.read(offset, into);
  }

  /** pwrite inside region `index`; bytes or −errno (EINVAL outside it). */
  write(index: number, offset: number, from: Uint8Array): number {
    const region = this.#backing(index);
    if (region === undefined || offset < 0 || offset + from.byteLength > region.size) return -Errno.EINVAL;
    return region.write(offset, from);
  }

  /**
   * The bytes behind `length` bytes at `offset` of region `index`, for an mmap: a live view of
   * the device's own memory, so stores through it reach the device. EINVAL (as vfio-pci
   * answers) for a region without the MMAP flag, a write mapping of a read-only region, an
   * offset that is not page-aligned, or a range no sparse-mmap area covers whole.
   */
  map(index: number, offset: number, length: number, writable: boolean): Uint8Array | number {
    const region = this.#backing(index);
    if (region === undefined || (region.flags & VfioRegionFlags.MMAP) === 0) return -Errno.EINVAL;
    if (writable && (region.flags & VfioRegionFlags.WRITE) === 0) return -Errno.EINVAL;
    if (length <= 0 || offset < 0 || offset % MMAP_PAGE_SIZE !== 0) return -Errno.EINVAL;
    const covered = region.capabilities.some(
      (cap) =>
        cap.kind === 'sparse-mmap' &&
        cap.areas.some((area) => BigInt(offset) >= area.offset && BigInt(offset) + BigInt(length) <= area.offset + area.size),
    );
    if (!covered) return -Errno.EINVAL;
    return region.map(offset, length);
  }

  #backing(index: number): RegionBacking | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.#regions.length) return undefined;
    return this.#regions[index];
  }
}
