/**
 * One named region of guest memory the VMM owns (QEMU's RAMBlock): its idstr as sent on
 * the wire, its used length (whole target pages), and views of its bytes.
 */
import { MAX_RAM_BLOCK_IDSTR_LENGTH, TARGET_PAGE_SIZE } from './ram-constants.js';
import { RamBlockError } from './ram-errors.js';

/** What {@link RamBlock}'s constructor checks and keeps. */
export interface RamBlockOptions {
  /**
   * The used length in bytes (a multiple of the target page; default the memory's whole
   * length). The block list announces it, and only these bytes migrate.
   */
  readonly usedLength?: number;
  /**
   * Where the guest sees the block: its guest physical address, for dirty sources that
   * report by address (a VFIO device's DMA log is kept by IOVA, which is the guest physical
   * address when there is no vIOMMU). Not sent on the wire.
   */
  readonly guestAddress?: number;
}

/** A run of pages of one block. */
export interface PageRange {
  /** The first page's index. */
  readonly first: number;
  /** How many pages (0 for an empty range). */
  readonly count: number;
}

/**
 * A RAM block: guest memory the VMM owns — any `Uint8Array` (a `Buffer`, a view of a
 * `SharedArrayBuffer`, an mmapped memfd) — under a QEMU-style idstr. savevm reads pages
 * out of it on the source and writes them into it on the destination; it never copies or
 * replaces the memory itself.
 */
export class RamBlock {
  /** The idstr, as both sides must spell it (at most 255 bytes in UTF-8). */
  readonly idstr: string;
  /** The idstr's bytes on the wire. */
  readonly idBytes: Buffer;
  /** The used length in bytes: a whole number of target pages, at least one. */
  readonly usedLength: number;
  /** `usedLength / 4096`. */
  readonly pageCount: number;
  /** The block's bytes (the first `usedLength` bytes of the memory given), as a Buffer view. */
  readonly bytes: Buffer;
  /** The block's guest physical address, when the VMM gave one ({@link RamBlockOptions.guestAddress}). */
  readonly guestAddress: number | undefined;

  /**
   * @param idstr the block's name on the wire
   * @param memory the guest memory (kept, not copied)
   * @throws RamBlockError for an empty or too long idstr, one with a NUL byte, or a length that is not a whole number of pages
   */
  constructor(idstr: string, memory: Uint8Array, options: RamBlockOptions = {}) {
    const idBytes = Buffer.from(idstr, 'utf8');
    if (idBytes.length === 0) throw new RamBlockError(idstr, 'the idstr is empty');
    if (idBytes.length > MAX_RAM_BLOCK_IDSTR_LENGTH) {
      throw new RamBlockError(idstr.slice(0, 40), `the idstr is ${idBytes.length} bytes, more than ${MAX_RAM_BLOCK_IDSTR_LENGTH}`);
    }
    if (idBytes.includes(0)) throw new RamBlockError(idstr, 'the idstr contains a NUL byte');
    if (!(memory instanceof Uint8Array)) throw new RamBlockError(idstr, 'the memory is not a Uint8Array');
    const usedLength = options.usedLength ?? memory.byteLength;
    if (!Number.isSafeInteger(usedLength) || usedLength <= 0 || usedLength % TARGET_PAGE_SIZE !== 0) {
      throw new RamBlockError(idstr, `used length ${usedLength} is not a positive multiple of the ${TARGET_PAGE_SIZE}-byte page`);
    }
    if (usedLength > memory.byteLength) {
      throw new RamBlockError(idstr, `used length ${usedLength} is more than the ${memory.byteLength} bytes of memory given`);
    }
    this.idstr = idstr;
    this.idBytes = idBytes;
    this.usedLength = usedLength;
    this.pageCount = usedLength / TARGET_PAGE_SIZE;
    this.bytes = Buffer.from(memory.buffer, memory.byteOffset, usedLength);
    const gpa = options.guestAddress;
    if (gpa !== undefined && (!Number.isSafeInteger(gpa) || gpa < 0 || gpa % TARGET_PAGE_SIZE !== 0)) {
      throw new RamBlockError(idstr, `guest address ${gpa} is not a page-aligned non-negative integer`);
    }
    this.guestAddress = gpa;
  }

  /** The idstr's bytes read as latin1: an exact, byte-for-byte lookup key. */
  get key(): string {
    return this.idBytes.toString('latin1');
  }

  /** A view of page `index` (4096 bytes, no copy). */
  page(index: number): Buffer {
    const at = index * TARGET_PAGE_SIZE;
    return this.bytes.subarray(at, at + TARGET_PAGE_SIZE);
  }

  /**
   * The pages `[first, first + count)` that `length` bytes at `offset` touch.
   * @throws RamBlockError when the range is not inside the used length
   */
  pagesOf(offset: number, length: number): PageRange {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.usedLength) {
      throw new RamBlockError(this.idstr, `range ${offset}+${length} is outside the used length ${this.usedLength}`);
    }
    if (length === 0) return { first: 0, count: 0 };
    const first = Math.floor(offset / TARGET_PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / TARGET_PAGE_SIZE);
    return { first, count: last - first + 1 };
  }
}
