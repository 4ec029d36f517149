/**
 * One mmapped area of a device region (a sparse-mmap area): the bytes, where they sit in the
 * region, and an idempotent unmap. The device that made it tracks it and unmaps it on close.
 */
import { VfioError, VfioSyscallError } from '../errors.js';
import type { MemoryMapping, Syscalls } from '../syscalls/syscalls.js';

/** A mapped area of a device region, as {@link VfioDevice.mapRegionArea} returns it. */
export interface MappedRegionArea {
  /** Index of the region the area belongs to. */
  readonly regionIndex: number;
  /** Offset of the area inside the region, bytes. */
  readonly offset: number;
  /** Size of the area, bytes. */
  readonly size: number;
  /** Whether the mapping may be written (the region has the WRITE flag); never store into a read-only one. */
  readonly writable: boolean;
  /** Whether the area is still mapped ({@link unmap} not run, device not closed). */
  readonly mapped: boolean;
  /**
   * The mapped bytes (`size` long; byte 0 is region offset {@link offset}). Throws once
   * unmapped; do not keep the array past {@link unmap}: on the real kernel the pages are gone.
   */
  readonly bytes: Uint8Array;
  /** munmap; idempotent. Throws a `VfioSyscallError` when munmap fails (the area counts as unmapped anyway). */
  unmap(): void;
}

/** Why a region area could not be mapped before any syscall was made. */
export type RegionMapRefusal =
  /** The region does not have the MMAP flag. */
  | 'not-mmappable'
  /** The area is empty or reaches past the region's end. */
  | 'outside-region'
  /** The syscall layer has no mmap (nothing can be mapped through it). */
  | 'no-mmap-syscall';

/** A mapping refused by the device layer itself (no mmap was issued). */
export class RegionMapRefusedError extends VfioError {
  /** Why it was refused (named `refusal`: `reason` is a migration's reason code, `docs/design/errors.md`). */
  readonly refusal: RegionMapRefusal;
  /** Creates the error. */
  constructor(refusal: RegionMapRefusal, message: string, context: { readonly device: string; readonly op: string }) {
    super(message, context);
    this.name = 'RegionMapRefusedError';
    this.refusal = refusal;
  }
}

/** What a {@link FdMappedRegionArea} needs from the device that made it. */
export interface RegionMappingOwner {
  /** Device name, for errors. */
  readonly name: string;
  /** The syscall layer whose munmap releases the mapping. */
  readonly syscalls: Syscalls;
  /** Called once the area is unmapped, so the device stops tracking it. */
  forget(area: FdMappedRegionArea): void;
}

/** A {@link MappedRegionArea} over a {@link MemoryMapping} of a device fd. */
export class FdMappedRegionArea implements MappedRegionArea {
  /** Index of the region the area belongs to. */
  readonly regionIndex: number;
  /** Offset of the area inside the region, bytes. */
  readonly offset: number;
  /** Size of the area, bytes. */
  readonly size: number;
  /** Whether the mapping may be written. */
  readonly writable: boolean;
  readonly #mapping: MemoryMapping;
  readonly #owner: RegionMappingOwner;
  #mapped = true;

  /** Wraps a live mapping of `size` bytes at region offset `offset` (`writable` when mapped with PROT_WRITE). */
  constructor(owner: RegionMappingOwner, mapping: MemoryMapping, regionIndex: number, offset: number, size: number, writable: boolean) {
    this.writable = writable;
    this.#owner = owner;
    this.#mapping = mapping;
    this.regionIndex = regionIndex;
    this.offset = offset;
    this.size = size;
  }

  /** Whether the area is still mapped. */
  get mapped(): boolean {
    return this.#mapped;
  }

  /** The mapped bytes; throws once unmapped. */
  get bytes(): Uint8Array {
    if (!this.#mapped) throw new VfioError('the area is no longer mapped', { device: this.#owner.name, op: this.#describe('access') });
    return this.#mapping.bytes;
  }

  /** munmap; idempotent. */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    this.#owner.forget(this);
    const result = this.#owner.syscalls.munmap?.(this.#mapping) ?? 0;
    if (result < 0) throw new VfioSyscallError(-result, 'munmap', { device: this.#owner.name, op: this.#describe('unmap') });
  }

  #describe(what: string): string {
    return `${what} region ${this.regionIndex} area @${this.offset}+${this.size}`;
  }
}
