/**
 * What `VFIO_IOMMU_GET_INFO` answers: decoding the info struct and its capability chain
 * (MIGRATION, DMA_AVAIL, IOVA_RANGE), and encoding it the kernel's way — each capability
 * padded to 8 bytes, offsets from the start of the info struct
 * (docs/design/vfio-dirty-tracking.md §1, "GET_INFO").
 */
import { CapabilityChainError } from './capabilities.js';
import { InfoCapHeader } from './structs.js';
import { Type1CapId, Type1InfoFlags } from './type1.js';
import { IovaRange, Type1CapDmaAvail, Type1CapIovaRangeHead, Type1CapMigration, Type1Info } from './type1-structs.js';

/** The MIGRATION capability: dirty tracking is available. */
export interface Type1MigrationCap {
  /** The capability's flags (0). */
  readonly flags: number;
  /** Page sizes a dirty bitmap may use (only the smallest IOMMU page). */
  readonly pgsizeBitmap: bigint;
  /** The largest dirty bitmap, bytes. */
  readonly maxDirtyBitmapSize: bigint;
}

/** One usable IOVA range (inclusive end). */
export interface Type1IovaRange {
  /** First IOVA. */
  readonly start: bigint;
  /** Last IOVA. */
  readonly end: bigint;
}

/** GET_INFO, decoded. */
export interface Type1IommuInfo {
  /** {@link Type1InfoFlags}. */
  readonly flags: number;
  /** Bitmap of supported IOMMU page sizes. */
  readonly iovaPgsizes: bigint;
  /** The MIGRATION capability, when present. */
  readonly migration: Type1MigrationCap | undefined;
  /** The DMA_AVAIL capability's count, when present. */
  readonly dmaAvail: number | undefined;
  /** The IOVA_RANGE capability's ranges, when present. */
  readonly iovaRanges: readonly Type1IovaRange[] | undefined;
  /** Capability ids found that this decoder does not know. */
  readonly unknownCaps: readonly number[];
}

/** What the emulated kernel puts in the chain, in the kernel's order (MIGRATION, DMA_AVAIL, IOVA_RANGE). */
export interface Type1InfoCaps {
  /** The MIGRATION capability, or undefined to leave it out (the iommufd compat container). */
  readonly migration?: Type1MigrationCap | undefined;
  /** DMA_AVAIL's count, or undefined to leave it out. */
  readonly dmaAvail?: number | undefined;
  /** IOVA_RANGE's ranges, or undefined to leave it out (an emulated-only container has none). */
  readonly iovaRanges?: readonly Type1IovaRange[] | undefined;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * Decodes a GET_INFO buffer (the whole buffer the caller passed). Walks the chain only when
 * `flags` has CAPS and `cap_offset` is non-zero; rejects chains that loop or leave the buffer.
 */
export function parseType1Info(buffer: Uint8Array): Type1IommuInfo {
  const info = Type1Info.decode(buffer);
  let migration: Type1MigrationCap | undefined;
  let dmaAvail: number | undefined;
  let iovaRanges: Type1IovaRange[] | undefined;
  const unknownCaps: number[] = [];
  const seen = new Set<number>();
  let offset = (info.flags & Type1InfoFlags.CAPS) !== 0 ? info.cap_offset : 0;
  while (offset !== 0) {
    if (seen.has(offset)) throw new CapabilityChainError(`capability chain loops at ${offset}`, offset);
    seen.add(offset);
    if (offset < Type1Info.size || offset + InfoCapHeader.size > buffer.byteLength) {
      throw new CapabilityChainError(`capability at ${offset} lies outside the ${buffer.byteLength}-byte info`, offset);
    }
    const header = InfoCapHeader.decode(buffer, offset);
    const need = (size: number, what: string): void => {
      if (offset + size > buffer.byteLength) throw new CapabilityChainError(`${what} capability at ${offset} is truncated`, offset);
    };
    switch (header.id) {
      case Type1CapId.MIGRATION: {
        need(Type1CapMigration.size, 'migration');
        const cap = Type1CapMigration.decode(buffer, offset);
        migration = { flags: cap.flags, pgsizeBitmap: cap.pgsize_bitmap, maxDirtyBitmapSize: cap.max_dirty_bitmap_size };
        break;
      }
      case Type1CapId.DMA_AVAIL:
        need(Type1CapDmaAvail.size, 'DMA_AVAIL');
        dmaAvail = Type1CapDmaAvail.decode(buffer, offset).avail;
        break;
      case Type1CapId.IOVA_RANGE: {
        need(Type1CapIovaRangeHead.size, 'IOVA_RANGE');
        const head = Type1CapIovaRangeHead.decode(buffer, offset);
        const room = Math.floor((buffer.byteLength - offset - Type1CapIovaRangeHead.size) / IovaRange.size);
        if (head.nr_iovas > room) {
          throw new CapabilityChainError(`IOVA_RANGE capability at ${offset} claims ${head.nr_iovas} ranges, room for ${room}`, offset);
        }
        iovaRanges = [];
        for (let i = 0; i < head.nr_iovas; i++) {
          const r = IovaRange.decode(buffer, offset + Type1CapIovaRangeHead.size + i * IovaRange.size);
          iovaRanges.push({ start: r.start, end: r.end });
        }
        break;
      }
      default:
        unknownCaps.push(header.id);
    }
    offset = header.next;
  }
  return { flags: info.flags, iovaPgsizes: info.iova_pgsizes, migration, dmaAvail, iovaRanges, unknownCaps };
}

/**
 * Encodes the capability chain as the kernel builds it, for placement at `baseOffset` of the
 * info buffer (24): MIGRATION, DMA_AVAIL, IOVA_RANGE, each padded to 8 bytes.
 */
export function encodeType1InfoCaps(caps: Type1InfoCaps, baseOffset: number): Uint8Array {
  const parts: { size: number; write: (out: Uint8Array, at: number, next: number) => void }[] = [];
  const migration = caps.migration;
  if (migration !== undefined) {
    parts.push({
      size: Type1CapMigration.size,
      write: (out, at, next) =>
        Type1CapMigration.encode(
          {
            id: Type1CapId.MIGRATION,
            version: 1,
            next,
            flags: migration.flags,
            pad: 0,
            pgsize_bitmap: migration.pgsizeBitmap,
            max_dirty_bitmap_size: migration.maxDirtyBitmapSize,
          },
          out,
          at,
        ),
    });
  }
  const avail = caps.dmaAvail;
  if (avail !== undefined) {
    parts.push({
      size: align8(Type1CapDmaAvail.size),
      write: (out, at, next) => Type1CapDmaAvail.encode({ id: Type1CapId.DMA_AVAIL, version: 1, next, avail }, out, at),
    });
  }
  const ranges = caps.iovaRanges;
  if (ranges !== undefined) {
    parts.push({
      size: Type1CapIovaRangeHead.size + ranges.length * IovaRange.size,
      write: (out, at, next) => {
        Type1CapIovaRangeHead.encode({ id: Type1CapId.IOVA_RANGE, version: 1, next, nr_iovas: ranges.length, reserved: 0 }, out, at);
        ranges.forEach((r, i) => IovaRange.encode(r, out, at + Type1CapIovaRangeHead.size + i * IovaRange.size));
      },
    });
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.size, 0));
  let at = 0;
  parts.forEach((part, i) => {
    const next = i + 1 < parts.length ? baseOffset + at + part.size : 0;
    part.write(out, at, next);
    at += part.size;
  });
  return out;
}
