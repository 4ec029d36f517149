/**
 * The type1 IOMMU of an emulated container: DMA mappings backed by user memory, GET_INFO
 * with its capabilities, UNMAP_DMA with the dirty bitmap, DIRTY_PAGES START / STOP /
 * GET_BITMAP, each checked in the kernel's order with the kernel's errnos
 * (docs/design/vfio-dirty-tracking.md §1, §5). `ioctl` answers ≥ 0 or −errno.
 */
import { Errno } from '../errors.js';
import { DirtyPagesFlags, DIRTY_BITMAP_SIZE_MAX, DMA_ENTRY_LIMIT_DEFAULT, DmaMapFlags, DmaUnmapFlags, VfioIommuIoctl, dirtyBitmapBytes } from '../uapi/type1.js';
import { encodeType1InfoCaps, type Type1IovaRange } from '../uapi/type1-info.js';
import { TYPE1_INFO_MIN_ARGSZ, Type1DirtyBitmap, Type1DirtyBitmapGet, Type1DmaMap, Type1DmaUnmap, Type1Info, VfioBitmap } from '../uapi/type1-structs.js';
import { writeType1Bits } from './dirty-bits.js';
import { DmaMappingTable, IOMMU_PAGE, type DmaMapping } from './dma-mappings.js';
import type { EmulatedUserMemory } from './user-memory.js';

const U64 = 2n ** 64n;
const PAGE = BigInt(IOMMU_PAGE);
/** An emulated-only container's page sizes: PAGE_MASK. */
const PAGE_MASK_PGSIZES = U64 - PAGE;
/** An IOMMU-backed container's page sizes (4 KiB, 2 MiB, 1 GiB). */
const IOMMU_PGSIZES = 0x40201000n;
/** An x86 IOMMU's usable IOVA: everything but the MSI window, 48-bit. */
const IOMMU_IOVA_RANGES: readonly Type1IovaRange[] = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: 0xffffffffffffn },
];

/** What the container needs to know about its groups. */
export interface Type1Groups {
  /** How many attached groups are IOMMU-backed and never pin pages ("not pinned-page scope"). */
  nonPinnedGroups(): number;
}

/** The type1 state of one emulated container (its IOMMU set). */
export class EmulatedType1 {
  /** The DMA mappings. */
  readonly mappings = new DmaMappingTable();
  /** Whether the container was set to TYPE1v2 (DIRTY_PAGES needs it). */
  v2 = true;
  readonly #bitmaps = new Map<DmaMapping, Uint32Array>();
  #tracking = false;

  /**
   * @param memory user memory, to resolve pointers
   * @param groups the container's groups
   */
  constructor(
    private readonly memory: EmulatedUserMemory,
    private readonly groups: Type1Groups,
  ) {}

  /** Whether dirty tracking is on (DIRTY_PAGES START). */
  get tracking(): boolean {
    return this.#tracking;
  }

  /** Whether a group that cannot report (IOMMU-backed, never pins) makes every mapped page dirty. */
  get allDirty(): boolean {
    return this.groups.nonPinnedGroups() > 0;
  }

  /** Dispatches a container ioctl of the type1 backend; −ENOTTY for others. */
  ioctl(request: number, arg: Uint8Array | null): number {
    switch (request) {
      case VfioIommuIoctl.GET_INFO:
        return this.#getInfo(arg);
      case VfioIommuIoctl.MAP_DMA:
        return this.#map(arg);
      case VfioIommuIoctl.UNMAP_DMA:
        return this.#unmap(arg);
      case VfioIommuIoctl.DIRTY_PAGES:
        return this.#dirtyPages(arg);
      default:
        return -Errno.ENOTTY;
    }
  }

  /**
   * A device wrote `length` bytes at `iova` through `vfio_dma_rw()` (an emulated-IOMMU
   * device): the pages are marked in their mapping's bitmap while tracking is on.
   */
  recordWrite(iova: number, length: number): void {
    if (!this.#tracking) return;
    const m = this.mappings.find(iova);
    const bits = m === undefined ? undefined : this.#bitmaps.get(m);
    if (m === undefined || bits === undefined) return;
    const first = Math.floor((iova - m.iova) / IOMMU_PAGE);
    const last = Math.floor((iova + length - 1 - m.iova) / IOMMU_PAGE);
    for (let p = first; p <= last && p * IOMMU_PAGE < m.size; p++) bits[p >>> 5] = ((bits[p >>> 5] as number) | (1 << (p & 31))) >>> 0;
  }

  /** An IOMMU-backed group that never pinned left: with tracking on, the kernel marks everything dirty once. */
  nonPinnedGroupLeft(): void {
    if (!this.#tracking) return;
    for (const [m, bits] of this.#bitmaps) setAll(bits, m.size / IOMMU_PAGE);
  }

  #getInfo(arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < TYPE1_INFO_MIN_ARGSZ) return -Errno.EFAULT;
    const argsz = new DataView(arg.buffer, arg.byteOffset, arg.byteLength).getUint32(0, true);
    if (argsz < TYPE1_INFO_MIN_ARGSZ) return -Errno.EINVAL;
    const iommuBacked = this.allDirty;
    const caps = encodeType1InfoCaps(
      {
        migration: { flags: 0, pgsizeBitmap: PAGE, maxDirtyBitmapSize: BigInt(DIRTY_BITMAP_SIZE_MAX) },
        dmaAvail: DMA_ENTRY_LIMIT_DEFAULT - this.mappings.mappings.length,
        iovaRanges: iommuBacked ? IOMMU_IOVA_RANGES : undefined,
      },
      Type1Info.size,
    );
    const info = { argsz, flags: 1 | 2, iova_pgsizes: iommuBacked ? IOMMU_PGSIZES : PAGE_MASK_PGSIZES, cap_offset: 0, pad: 0 };
    if (argsz < Type1Info.size + caps.byteLength) info.argsz = Type1Info.size + caps.byteLength;
    else {
      if (arg.byteLength < Type1Info.size + caps.byteLength) return -Errno.EFAULT;
      arg.set(caps, Type1Info.size);
      info.cap_offset = Type1Info.size;
    }
    arg.set(Type1Info.encode(info).subarray(0, Math.min(argsz, Type1Info.size)));
    return 0;
  }

  #map(arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < Type1DmaMap.size) return -Errno.EFAULT;
    const map = Type1DmaMap.decode(arg);
    if (map.argsz < Type1DmaMap.size || (map.flags & ~(DmaMapFlags.READ | DmaMapFlags.WRITE | DmaMapFlags.VADDR)) !== 0) return -Errno.EINVAL;
    const prot = map.flags & (DmaMapFlags.READ | DmaMapFlags.WRITE);
    const setVaddr = (map.flags & DmaMapFlags.VADDR) !== 0;
    if ((prot !== 0) === setVaddr) return -Errno.EINVAL;
    if (setVaddr) return -Errno.EINVAL; // live update of a vaddr is not emulated
    const { size, iova, vaddr } = map;
    if (size === 0n || ((size | iova | vaddr) & (PAGE - 1n)) !== 0n) return -Errno.EINVAL;
    if (iova + size - 1n >= U64 || vaddr + size - 1n >= U64) return -Errno.EINVAL;
    if (iova + size > BigInt(Number.MAX_SAFE_INTEGER)) return -Errno.EINVAL; // beyond what the emulation addresses
    const at = Number(iova);
    const bytes = Number(size);
    if (this.mappings.overlaps(at, bytes)) return -Errno.EEXIST;
    if (this.mappings.mappings.length >= DMA_ENTRY_LIMIT_DEFAULT) return -Errno.ENOSPC;
    if (this.allDirty && !IOMMU_IOVA_RANGES.some((r) => iova >= r.start && iova + size - 1n <= r.end)) return -Errno.EINVAL;
    const memory = this.memory.resolve(vaddr, bytes);
    if (typeof memory === 'string') return -Errno.EFAULT;
    const mapping: DmaMapping = { iova: at, size: bytes, bytes: memory, writable: (prot & DmaMapFlags.WRITE) !== 0 };
    this.mappings.add(mapping);
    if (this.#tracking) this.#bitmaps.set(mapping, new Uint32Array(Math.ceil(bytes / IOMMU_PAGE / 32)));
    return 0;
  }

  #unmap(arg: Uint8Array | null): number {
    if (arg === null || arg.byteLength < Type1DmaUnmap.size) return -Errno.EFAULT;
    const unmap = Type1DmaUnmap.decode(arg);
    const known = DmaUnmapFlags.GET_DIRTY_BITMAP | DmaUnmapFlags.ALL | DmaUnmapFlags.VADDR;
    if (unmap.argsz < Type1DmaUnmap.size || (unmap.flags & ~known) !== 0) return -Errno.EINVAL;
    const withBitmap = (unmap.flags & DmaUnmapFlags.GET_DIRTY_BITMAP) !== 0;
    if (withBitmap && (unmap.flags & (DmaUnmapFlags.ALL | DmaUnmapFlags.VADDR)) !== 0) return -Errno.EINVAL;
    let bitmap: { pgsize: bigint; size: bigint; data: bigint } | undefined;
    if (withBitmap) {
      if (unmap.argsz < Type1DmaUnmap.size + VfioBitmap.size) return -Errno.EINVAL;
      if (arg.byteLength < Type1DmaUnmap.size + VfioBitmap.size) return -Errno.EFAULT;
      bitmap = VfioBitmap.decode(arg, Type1DmaUnmap.size);
      if (bitmap.data + bitmap.size > 0x7ffffffff000n) return -Errno.EINVAL; // access_ok
      if (bitmap.pgsize === 0n) return -Errno.EINVAL;
      const verified = verifyBitmapSize(unmap.size >> BigInt(ffs(bitmap.pgsize)), bitmap.size);
      if (verified !== 0) return verified;
    }
    if (unmap.flags & DmaUnmapFlags.VADDR) return -Errno.EINVAL; // live update of a vaddr is not emulated
    const all = (unmap.flags & DmaUnmapFlags.ALL) !== 0;
    const { iova, size } = unmap;
    if ((iova & (PAGE - 1n)) !== 0n) return -Errno.EINVAL;
    let last: bigint;
    if (all) {
      if (iova !== 0n || size !== 0n) return -Errno.EINVAL;
      last = U64 - 1n;
    } else {
      if (size === 0n || (size & (PAGE - 1n)) !== 0n || iova + size - 1n >= U64) return -Errno.EINVAL;
      last = iova + size - 1n;
    }
    if (bitmap !== undefined && (!this.#tracking || bitmap.pgsize !== PAGE)) return -Errno.EINVAL;
    const first = toSafe(iova);
    const lastAt = toSafe(last);
    if (this.v2 && !all) {
      const a = this.mappings.find(first);
      if (a !== undefined && a.iova !== first) return -Errno.EINVAL;
      const b = this.mappings.find(lastAt);
      if (b !== undefined && b.iova + b.size - 1 !== lastAt) return -Errno.EINVAL;
    }
    let dst: Uint8Array | undefined;
    if (bitmap !== undefined) {
      const resolved = this.memory.resolve(bitmap.data, Number(bitmap.size));
      if (typeof resolved === 'string') return -Errno.EFAULT;
      dst = resolved;
    }
    let unmapped = 0n;
    for (const m of this.mappings.within(first, lastAt)) {
      if (!this.v2 && first > m.iova) break;
      if (dst !== undefined) writeType1Bits(dst, (m.iova - first) / IOMMU_PAGE, this.#bitmapOf(m), m.size / IOMMU_PAGE, this.allDirty);
      unmapped += BigInt(m.size);
      this.mappings.remove(m);
      this.#bitmaps.delete(m);
    }
    Type1DmaUnmap.encode({ ...unmap, size: unmapped }, arg);
    return 0;
  }

  #dirtyPages(arg: Uint8Array | null): number {
    if (!this.v2) return -Errno.EACCES;
    if (arg === null || arg.byteLength < Type1DirtyBitmap.size) return -Errno.EFAULT;
    const { argsz, flags } = Type1DirtyBitmap.decode(arg);
    const known = DirtyPagesFlags.START | DirtyPagesFlags.STOP | DirtyPagesFlags.GET_BITMAP;
    if (argsz < Type1DirtyBitmap.size || (flags & ~known) !== 0) return -Errno.EINVAL;
    if (flags === 0 || (flags & (flags - 1)) !== 0) return -Errno.EINVAL;
    if (flags === DirtyPagesFlags.START) {
      if (this.#tracking) return 0;
      for (const m of this.mappings.mappings) {
        if (m.size / IOMMU_PAGE > 2 ** 31 - 1) return -Errno.EINVAL;
      }
      for (const m of this.mappings.mappings) this.#bitmaps.set(m, new Uint32Array(Math.ceil(m.size / IOMMU_PAGE / 32)));
      this.#tracking = true;
      return 0;
    }
    if (flags === DirtyPagesFlags.STOP) {
      this.#tracking = false;
      this.#bitmaps.clear();
      return 0;
    }
    const dataSize = argsz - Type1DirtyBitmap.size;
    if (dataSize < Type1DirtyBitmapGet.size) return -Errno.EINVAL;
    if (arg.byteLength < Type1DirtyBitmap.size + Type1DirtyBitmapGet.size) return -Errno.EFAULT;
    const range = Type1DirtyBitmapGet.decode(arg, Type1DirtyBitmap.size);
    if (range.iova + range.size >= U64) return -Errno.EINVAL;
    if (range.data + range.bitmap_size > 0x7ffffffff000n) return -Errno.EINVAL; // access_ok
    if (range.pgsize === 0n) return -Errno.EINVAL;
    const verified = verifyBitmapSize(range.size >> BigInt(ffs(range.pgsize)), range.bitmap_size);
    if (verified !== 0) return verified;
    if (range.pgsize !== PAGE) return -Errno.EINVAL;
    if ((range.iova & (PAGE - 1n)) !== 0n) return -Errno.EINVAL;
    if (range.size === 0n || (range.size & (PAGE - 1n)) !== 0n) return -Errno.EINVAL;
    if (!this.#tracking) return -Errno.EINVAL;
    const first = toSafe(range.iova);
    const last = toSafe(range.iova + range.size - 1n);
    const a = this.mappings.find(first);
    if (a !== undefined && a.iova !== first) return -Errno.EINVAL;
    const b = this.mappings.find(last);
    if (b !== undefined && b.iova + b.size - 1 !== last) return -Errno.EINVAL;
    const dst = this.memory.resolve(range.data, Number(range.bitmap_size));
    if (typeof dst === 'string') return -Errno.EFAULT;
    for (const m of this.mappings.within(first, last)) {
      const bits = this.#bitmapOf(m);
      writeType1Bits(dst, (m.iova - first) / IOMMU_PAGE, bits, m.size / IOMMU_PAGE, this.allDirty);
      bits.fill(0); // reloaded with the pinned pages: the emulated devices pin none
    }
    return 0;
  }

  #bitmapOf(m: DmaMapping): Uint32Array {
    let bits = this.#bitmaps.get(m);
    if (bits === undefined) {
      bits = new Uint32Array(Math.ceil(m.size / IOMMU_PAGE / 32));
      this.#bitmaps.set(m, bits);
    }
    return bits;
  }
}

/** The kernel's `verify_bitmap_size()`: 0 or −EINVAL. */
function verifyBitmapSize(pages: bigint, bitmapSize: bigint): number {
  if (pages === 0n || bitmapSize === 0n || bitmapSize > BigInt(DIRTY_BITMAP_SIZE_MAX)) return -Errno.EINVAL;
  if (pages > BigInt(2 ** 40)) return -Errno.EINVAL;
  return bitmapSize < BigInt(dirtyBitmapBytes(Number(pages))) ? -Errno.EINVAL : 0;
}

/** Index of the lowest set bit (`__ffs`). */
function ffs(value: bigint): number {
  let n = 0;
  while (((value >> BigInt(n)) & 1n) === 0n && n < 64) n++;
  return n;
}

/** An IOVA as a number, saturating past what the emulation addresses (no mapping lies there). */
function toSafe(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

function setAll(bits: Uint32Array, pages: number): void {
  bits.fill(0xffffffff);
  if (pages % 32 !== 0) bits[bits.length - 1] = (1 << (pages % 32)) - 1;
}
