/**
 * Region-info capability chains: decoding what the kernel appends after `vfio_region_info`
 * (offsets count from the start of the info buffer; `next == 0` ends the chain), and encoding
 * one (used by the emulated kernel).
 */
import { VfioError } from '../errors.js';
import { VfioRegionCapId } from './constants.js';
import {
  InfoCapHeader,
  RegionInfoCapSparseMmapHead,
  RegionInfoCapType,
  SparseMmapArea,
} from './structs.js';

/** One mmappable area of a sparse-mmap capability. */
export interface SparseArea {
  /** Offset inside the region, bytes. */
  readonly offset: bigint;
  /** Size, bytes. */
  readonly size: bigint;
}

/** A decoded region capability. */
export type RegionCapability =
  | {
      /** A sparse-mmap capability (id 1): the parts of the region that may be mmapped. */
      readonly kind: 'sparse-mmap';
      /** Capability layout version from the header. */
      readonly version: number;
      /** The mmappable areas, in chain order. */
      readonly areas: readonly SparseArea[];
    }
  | {
      /** A type capability (id 2): what kind of device-specific region this is. */
      readonly kind: 'type';
      /** Capability layout version from the header. */
      readonly version: number;
      /** Region type (3 = v1 migration region). */
      readonly type: number;
      /** Region subtype within the type (1 = v1 migration region). */
      readonly subtype: number;
    }
  | {
      /** A capability id this package does not decode; kept so callers can see it was there. */
      readonly kind: 'unknown';
      /** The capability id from the header. */
      readonly id: number;
      /** Capability layout version from the header. */
      readonly version: number;
      /** Byte offset of the capability in the info buffer. */
      readonly offset: number;
    };

/**
 * Thrown when a capability chain is malformed (out of bounds, looping, truncated). A
 * {@link VfioError} of the decoder: no device is involved (op `capability chain`), errno EINVAL,
 * and the message is the bare description.
 */
export class CapabilityChainError extends VfioError {
  /** Byte offset of the bad capability in the info buffer. */
  readonly offset: number;
  /** Creates the error. */
  constructor(message: string, offset: number) {
    super(message, { op: 'capability chain' }, { errno: 'EINVAL' });
    this.message = message;
    this.name = 'CapabilityChainError';
    this.offset = offset;
  }
}

/**
 * Walks a capability chain starting at `firstOffset` inside `info` (the whole info buffer).
 * Rejects offsets outside the buffer, chains that loop, and sparse-mmap area counts that do
 * not fit in the buffer (nothing is allocated from the counts).
 */
export function parseCapabilityChain(info: Uint8Array, firstOffset: number): RegionCapability[] {
  const caps: RegionCapability[] = [];
  const seen = new Set<number>();
  let offset = firstOffset;
  while (offset !== 0) {
    if (seen.has(offset)) throw new CapabilityChainError(`capability chain loops at ${offset}`, offset);
    seen.add(offset);
    if (offset < 0 || offset + InfoCapHeader.size > info.byteLength) {
      throw new CapabilityChainError(`capability at ${offset} lies outside the ${info.byteLength}-byte info`, offset);
    }
    const header = InfoCapHeader.decode(info, offset);
    switch (header.id) {
      case VfioRegionCapId.TYPE: {
        if (offset + RegionInfoCapType.size > info.byteLength) {
          throw new CapabilityChainError(`type capability at ${offset} is truncated`, offset);
        }
        const cap = RegionInfoCapType.decode(info, offset);
        caps.push({ kind: 'type', version: cap.version, type: cap.type, subtype: cap.subtype });
        break;
      }
      case VfioRegionCapId.SPARSE_MMAP: {
        if (offset + RegionInfoCapSparseMmapHead.size > info.byteLength) {
          throw new CapabilityChainError(`sparse-mmap capability at ${offset} is truncated`, offset);
        }
        const head = RegionInfoCapSparseMmapHead.decode(info, offset);
        const room = Math.floor((info.byteLength - offset - RegionInfoCapSparseMmapHead.size) / SparseMmapArea.size);
        if (head.nr_areas > room) {
          throw new CapabilityChainError(`sparse-mmap capability at ${offset} claims ${head.nr_areas} areas, room for ${room}`, offset);
        }
        const areas: SparseArea[] = [];
        for (let i = 0; i < head.nr_areas; i++) {
          const area = SparseMmapArea.decode(info, offset + RegionInfoCapSparseMmapHead.size + i * SparseMmapArea.size);
          areas.push({ offset: area.offset, size: area.size });
        }
        caps.push({ kind: 'sparse-mmap', version: head.version, areas });
        break;
      }
      default:
        caps.push({ kind: 'unknown', id: header.id, version: header.version, offset });
    }
    offset = header.next;
  }
  return caps;
}

/** Size in bytes a capability occupies when encoded. */
export function encodedCapabilitySize(cap: RegionCapability): number {
  switch (cap.kind) {
    case 'type':
      return RegionInfoCapType.size;
    case 'sparse-mmap':
      return RegionInfoCapSparseMmapHead.size + cap.areas.length * SparseMmapArea.size;
    case 'unknown':
      return InfoCapHeader.size;
  }
}

/**
 * Encodes capabilities back to back starting at `baseOffset` of an info buffer; returns the
 * bytes (to place at `baseOffset`) with `next` fields pointing at info-buffer offsets.
 */
export function encodeCapabilityChain(caps: readonly RegionCapability[], baseOffset: number): Uint8Array {
  const total = caps.reduce((sum, cap) => sum + encodedCapabilitySize(cap), 0);
  const out = new Uint8Array(total);
  let at = 0;
  caps.forEach((cap, i) => {
    const size = encodedCapabilitySize(cap);
    const next = i + 1 < caps.length ? baseOffset + at + size : 0;
    switch (cap.kind) {
      case 'type':
        RegionInfoCapType.encode(
          { id: VfioRegionCapId.TYPE, version: cap.version, next, type: cap.type, subtype: cap.subtype },
          out,
          at,
        );
        break;
      case 'sparse-mmap':
        RegionInfoCapSparseMmapHead.encode(
          { id: VfioRegionCapId.SPARSE_MMAP, version: cap.version, next, nr_areas: cap.areas.length, reserved: 0 },
          out,
          at,
        );
        cap.areas.forEach((area, k) =>
          SparseMmapArea.encode(area, out, at + RegionInfoCapSparseMmapHead.size + k * SparseMmapArea.size),
        );
        break;
      case 'unknown':
        InfoCapHeader.encode({ id: cap.id, version: cap.version, next }, out, at);
        break;
    }
    at += size;
  });
  return out;
}
