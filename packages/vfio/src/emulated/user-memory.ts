/**
 * The emulated kernel's view of user memory: it hands out a user address for any buffer a
 * caller passes by pointer (DMA mappings, dirty bitmaps, DMA logging ranges) and resolves
 * addresses back to the bytes, as `copy_from_user` / `copy_to_user` and page pinning would
 * (docs/design/vfio-dirty-tracking.md §5).
 */

/** First address handed out (page-aligned, well inside the x86-64 user range). */
const FIRST_ADDRESS = 0x7f0000000000n;
/** The end of user space on x86-64 (`TASK_SIZE_MAX`): higher addresses fail `access_ok`. */
export const USER_ADDRESS_LIMIT = 0x7ffffffff000n;
const PAGE = 4096n;

interface Region {
  readonly base: bigint;
  readonly length: number;
  readonly ref: WeakRef<ArrayBufferLike>;
}

/** What resolving an address found. */
export type UserMemoryLookup =
  /** The bytes (a view of the caller's buffer, no copy). */
  | Uint8Array
  /** The range is not in user space at all (`access_ok` fails: EINVAL where the kernel checks it). */
  | 'not-user'
  /** The range is user space but no live buffer holds all of it (EFAULT). */
  | 'fault';

/**
 * Addresses for buffers: each `ArrayBuffer` gets a range of its own, placed so that the
 * first view registered from it starts on a page boundary (a page-aligned allocation stays
 * page-aligned), with a guard page after it. Buffers are held weakly.
 */
export class EmulatedUserMemory {
  readonly #bases = new WeakMap<ArrayBufferLike, bigint>();
  #regions: Region[] = [];
  #next = FIRST_ADDRESS;

  /** The user address of `bytes`' first byte (the same for every view of the same bytes). */
  addressOf(bytes: Uint8Array): bigint {
    const buffer = bytes.buffer;
    let base = this.#bases.get(buffer);
    if (base === undefined) {
      const skew = BigInt((4096 - (bytes.byteOffset % 4096)) % 4096);
      base = this.#next + skew;
      const end = base + BigInt(buffer.byteLength);
      this.#next = ((end + PAGE - 1n) / PAGE) * PAGE + PAGE;
      this.#bases.set(buffer, base);
      if (this.#regions.length >= 1024) this.#regions = this.#regions.filter((r) => r.ref.deref() !== undefined);
      this.#regions.push({ base, length: buffer.byteLength, ref: new WeakRef(buffer) });
    }
    return base + BigInt(bytes.byteOffset);
  }

  /** The `length` bytes at `address`, or why not. */
  resolve(address: bigint, length: number): UserMemoryLookup {
    if (address < 0n || length < 0 || address + BigInt(length) > USER_ADDRESS_LIMIT) return 'not-user';
    const regions = this.#regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = regions[mid] as Region;
      if (address < r.base) hi = mid - 1;
      else if (address >= r.base + BigInt(Math.max(r.length, 1))) lo = mid + 1;
      else {
        const buffer = r.ref.deref();
        const offset = Number(address - r.base);
        if (buffer === undefined || offset + length > r.length) return 'fault';
        return new Uint8Array(buffer, offset, length);
      }
    }
    return 'fault';
  }
}
