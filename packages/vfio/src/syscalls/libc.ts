/**
 * The real syscall layer: libc through koffi for ioctl (errno read right after the call), and
 * Node's fs for open/close/pread/pwrite/read/write.
 *
 * Data-path choice, measured on this project's machine (Node 20.20, 2 vCPUs, unpinned) moving
 * 256 MiB from `head -c` through a FIFO in 1 MiB reads into a page-aligned buffer, 5 runs
 * each alternated: libuv `fs.read` (position null) 1.37–2.02 GB/s, koffi `read.async`
 * 1.19–2.01 GB/s, i.e. the same within noise. `fs.read`/`fs.write` are used: no koffi async
 * pool to size, and errors arrive with their code. Position null means read(2)/write(2); a
 * number would be pread(2), which a data_fd answers with ESPIPE.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { MAP_SHARED, MmapProt, type MemoryMapping, type Syscalls } from './syscalls.js';
import { Errno, errnoOfNodeError } from '../errors.js';

/** The koffi functions this module binds (typed narrowly; koffi itself is untyped). */
interface LibcBindings {
  ioctlPointer(fd: number, request: number, arg: Uint8Array | null): number;
  ioctlValue(fd: number, request: number, value: number): number;
  /** libc memcpy(dst, src, 0): returns dst, used to learn a buffer's address. */
  addressOf(buffer: Uint8Array): bigint;
  /** splice(2) with NULL offsets. */
  splice(fdIn: number, fdOut: number, length: number, flags: number): number;
  sched_yield(): number;
  /** mmap(2) with a NULL address hint; the pointer, or `undefined` for MAP_FAILED (errno set). */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): unknown;
  /** munmap(2) of a pointer {@link mmap} returned. */
  munmap(pointer: unknown, length: number): number;
  /** madvise(2) over a buffer's bytes; 0 or -1. */
  madvise(buffer: Uint8Array, length: number, advice: number): number;
  /** An ArrayBuffer over `length` bytes at `pointer` (no copy; valid while the memory is). */
  view(pointer: unknown, length: number): ArrayBuffer;
  /** glibc mallopt(3): 1 when the parameter was taken, 0 when refused; absent outside glibc. */
  mallopt: ((parameter: number, value: number) => number) | undefined;
  errno(): number;
}

interface KoffiModule {
  load(path: string): { func(name: string, result: string, args: string[]): (...args: unknown[]) => unknown };
  address(value: unknown): bigint;
  view(pointer: unknown, length: number): ArrayBuffer;
  errno(): number;
}

/** mmap's MAP_FAILED, `(void *)-1`, as koffi reports a pointer's address. */
const MAP_FAILED_ADDRESS = 2n ** 64n - 1n;

let bindings: LibcBindings | undefined;

/** Loads libc through koffi once, on first use (the emulated path never needs it). */
function libc(): LibcBindings {
  if (bindings !== undefined) return bindings;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as KoffiModule;
  const lib = koffi.load('libc.so.6');
  const ioctlPtr = lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']);
  const ioctlInt = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
  const memcpy = lib.func('memcpy', 'void *', ['void *', 'void *', 'size_t']);
  const splice = lib.func('splice', 'long', ['int', 'void *', 'int', 'void *', 'size_t', 'unsigned int']);
  const schedYield = lib.func('sched_yield', 'int', []);
  const mmap = lib.func('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'long']);
  const munmap = lib.func('munmap', 'int', ['void *', 'size_t']);
  const madvise = lib.func('madvise', 'int', ['void *', 'size_t', 'int']);
  const mallopt = optionalFunc(() => lib.func('mallopt', 'int', ['int', 'int']));
  bindings = {
    ioctlPointer: (fd, request, arg) => ioctlPtr(fd, request, arg) as number,
    ioctlValue: (fd, request, value) => ioctlInt(fd, request, value) as number,
    addressOf: (buffer) => koffi.address(memcpy(buffer, buffer, 0)),
    splice: (fdIn, fdOut, length, flags) => Number(splice(fdIn, null, fdOut, null, length, flags)),
    sched_yield: () => schedYield() as number,
    mmap: (length, prot, flags, fd, offset) => {
      const pointer = mmap(null, length, prot, flags, fd, offset);
      return pointer === null || koffi.address(pointer) === MAP_FAILED_ADDRESS ? undefined : pointer;
    },
    munmap: (pointer, length) => munmap(pointer, length) as number,
    madvise: (buffer, length, advice) => madvise(buffer, length, advice) as number,
    view: (pointer, length) => koffi.view(pointer, length),
    mallopt: mallopt && ((parameter, value) => mallopt(parameter, value) as number),
    errno: () => koffi.errno(),
  };
  return bindings;
}

/** A libc function that may be missing (musl has no mallopt): `undefined` then. */
function optionalFunc<F>(bind: () => F): F | undefined {
  try {
    return bind();
  } catch {
    return undefined;
  }
}

/** The address of a buffer's first byte (via libc memcpy through koffi). */
export function bufferAddress(buffer: Uint8Array): bigint {
  return libc().addressOf(buffer);
}

/** Page size assumed for data buffers. */
export const PAGE_SIZE = 4096;

/**
 * Allocates `size` bytes whose first byte is page-aligned: over-allocates one page and returns
 * the aligned subarray. The kernel's copy to user space is 2.5–4× slower into the
 * 16-byte-misaligned memory Node hands out for large Buffers. Allocate once and reuse.
 */
export function allocateAlignedBuffer(size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad buffer size ${size}`);
  const raw = Buffer.allocUnsafeSlow(size + PAGE_SIZE);
  const misalignment = Number(bufferAddress(raw) % BigInt(PAGE_SIZE));
  const start = misalignment === 0 ? 0 : PAGE_SIZE - misalignment;
  return raw.subarray(start, start + size);
}

/** A transparent huge page on x86-64 and arm64 (4 KiB base pages). */
const HUGE_PAGE = 2 * 1024 * 1024;
/** `MADV_HUGEPAGE` from `<sys/mman.h>`. */
const MADV_HUGEPAGE = 14;

/** Memory from {@link allocateHugePageMemory} and how it is backed. */
export interface HugePageMemory {
  /** The bytes, zeroed, over a `SharedArrayBuffer` (threads may share them). */
  readonly bytes: Buffer;
  /** Whether the kernel took the huge-page advice (false: plain 4 KiB pages). */
  readonly hugePages: boolean;
}

/**
 * Allocates `size` zeroed bytes as a VMM allocates guest RAM: shared, 2 MiB aligned and
 * advised for transparent huge pages, so touching them first costs one page fault per 2 MiB
 * instead of one per 4 KiB (bench/README.md measured the difference for guest RAM and the
 * emulated device's resume buffer). Falls back to unaligned memory in 4 KiB pages where libc
 * cannot be reached, and to 4 KiB pages where the kernel refuses the advice.
 */
export function allocateHugePageMemory(size: number): HugePageMemory {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad memory size ${size}`);
  let calls: LibcBindings;
  try {
    calls = libc();
  } catch {
    return { bytes: Buffer.from(new SharedArrayBuffer(size)), hugePages: false };
  }
  const raw = Buffer.from(new SharedArrayBuffer(size + HUGE_PAGE));
  const skew = Number(calls.addressOf(raw) % BigInt(HUGE_PAGE));
  const start = skew === 0 ? 0 : HUGE_PAGE - skew;
  const bytes = raw.subarray(start, start + size);
  return { bytes, hugePages: size > 0 && calls.madvise(bytes, size, MADV_HUGEPAGE) === 0 };
}

/** mallopt(3) parameters from glibc's `<malloc.h>`. */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** glibc's largest M_MMAP_THRESHOLD on 64-bit (`HEAP_MAX_SIZE / 2`); mallopt refuses more. */
const MAX_MMAP_THRESHOLD = 32 * 1024 * 1024;

/** How much freed heap memory {@link retainFreedHeapMemory} lets malloc keep. */
export interface RetainFreedHeapMemoryOptions {
  /** Free bytes at the heap's top kept before malloc gives them back to the kernel (default 64 MiB). */
  readonly trimThresholdBytes?: number;
  /** Allocations from this size up get their own mapping, unmapped when freed (default and most: 32 MiB). */
  readonly mmapThresholdBytes?: number;
}

/**
 * Lets glibc's malloc keep freed memory for the next allocation instead of giving it back to
 * the kernel at once (mallopt(3) `M_TRIM_THRESHOLD` and `M_MMAP_THRESHOLD`). A migration's
 * bulk path allocates a buffer per socket read (Node's 64 KiB) and frees it when the garbage
 * collector runs; with glibc's defaults much of that memory goes back to the kernel and comes
 * back fresh, a page fault per 4 KiB: about 100,000 faults and half the destination's CPU per
 * GiB on loopback (docs/design/multifd.md, "Memory on the bulk path"). The setting is
 * process-wide and stays: call it once, at start-up, in a process that exists to migrate
 * (the example migrator does); the price is heap memory kept after peaks, up to the trim
 * threshold. Returns whether malloc took both values (false where libc is not glibc or
 * cannot be reached).
 * @throws RangeError for a size that is not a positive integer, or an mmap threshold above 32 MiB
 */
export function retainFreedHeapMemory(options: RetainFreedHeapMemoryOptions = {}): boolean {
  const trim = options.trimThresholdBytes ?? 64 * 1024 * 1024;
  const mmap = options.mmapThresholdBytes ?? MAX_MMAP_THRESHOLD;
  if (!Number.isSafeInteger(trim) || trim < 1 || trim > 2 ** 31 - 1) throw new RangeError(`bad trim threshold ${trim}`);
  if (!Number.isSafeInteger(mmap) || mmap < 1 || mmap > MAX_MMAP_THRESHOLD) throw new RangeError(`bad mmap threshold ${mmap} (most ${MAX_MMAP_THRESHOLD})`);
  let calls: LibcBindings;
  try {
    calls = libc();
  } catch {
    return false;
  }
  const mallopt = calls.mallopt;
  if (mallopt === undefined) return false;
  return mallopt(M_TRIM_THRESHOLD, trim) === 1 && mallopt(M_MMAP_THRESHOLD, mmap) === 1;
}

function fsResult<T>(run: () => T): T | number {
  try {
    return run();
  } catch (error) {
    return -errnoOfNodeError(error);
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What {@link LibcSyscalls} remembers of a live mapping to unmap it. */
interface LibcMapping {
  readonly pointer: unknown;
  readonly length: number;
}

/** Syscalls on the real kernel (Linux, x86_64/arm64). */
export class LibcSyscalls implements Syscalls {
  /** Live mappings this layer made, with the pointer and length munmap needs. */
  readonly #mappings = new Map<MemoryMapping, LibcMapping>();

  /** open(2) with O_CLOEXEC (Node adds it). */
  open(path: string, flags: number): number {
    const result = fsResult(() => fs.openSync(path, flags));
    return result;
  }

  /** close(2). */
  close(fd: number): number {
    const result = fsResult(() => fs.closeSync(fd));
    return typeof result === 'number' ? result : 0;
  }

  /** ioctl(2) with a pointer argument; errno read right after a −1. */
  ioctl(fd: number, request: number, arg: Uint8Array | null): number {
    const lib = libc();
    const result = lib.ioctlPointer(fd, request, arg);
    return result === -1 ? -lib.errno() : result;
  }

  /** ioctl(2) with an integer argument; errno read right after a −1. */
  ioctlValue(fd: number, request: number, value: number): number {
    const lib = libc();
    const result = lib.ioctlValue(fd, request, value);
    return result === -1 ? -lib.errno() : result;
  }

  /** pread(2). */
  pread(fd: number, into: Uint8Array, offset: number): number {
    return fsResult(() => fs.readSync(fd, into, 0, into.byteLength, offset));
  }

  /** pwrite(2). */
  pwrite(fd: number, from: Uint8Array, offset: number): number {
    return fsResult(() => fs.writeSync(fd, from, 0, from.byteLength, offset));
  }

  /** read(2) on the libuv threadpool. */
  read(fd: number, into: Uint8Array): Promise<number> {
    return new Promise((resolve) => {
      fs.read(fd, into, 0, into.byteLength, null, (error, bytesRead) => {
        resolve(error ? -errnoOfNodeError(error) : bytesRead);
      });
    });
  }

  /** splice(2) between two fds at their current positions, on this thread; errno read right after a −1. */
  splice(fdIn: number, fdOut: number, length: number, flags: number): number {
    const lib = libc();
    const result = lib.splice(fdIn, fdOut, length, flags);
    return result === -1 ? -lib.errno() : result;
  }

  /**
   * mmap(2), MAP_SHARED, of `length` bytes of `fd` at `offset`; errno read right after a
   * MAP_FAILED. EINVAL without a call for a length or offset that is not a positive
   * (non-negative) safe integer.
   */
  mmap(fd: number, offset: number, length: number, writable: boolean): MemoryMapping | number {
    if (!Number.isSafeInteger(length) || length <= 0 || !Number.isSafeInteger(offset) || offset < 0) return -Errno.EINVAL;
    const lib = libc();
    const prot = MmapProt.READ | (writable ? MmapProt.WRITE : 0);
    const pointer = lib.mmap(length, prot, MAP_SHARED, fd, offset);
    if (pointer === undefined) return -lib.errno();
    const mapping: MemoryMapping = { bytes: new Uint8Array(lib.view(pointer, length)) };
    this.#mappings.set(mapping, { pointer, length });
    return mapping;
  }

  /** munmap(2) of a mapping this layer made; EINVAL for one it does not know (or already unmapped). */
  munmap(mapping: MemoryMapping): number {
    const live = this.#mappings.get(mapping);
    if (live === undefined) return -Errno.EINVAL;
    this.#mappings.delete(mapping);
    const lib = libc();
    const result = lib.munmap(live.pointer, live.length);
    return result === -1 ? -lib.errno() : result;
  }

  /** The address of `bytes`' first byte in this process. */
  addressOf(bytes: Uint8Array): bigint {
    return bufferAddress(bytes);
  }

  /** sched_yield(2). */
  yieldCpu(): void {
    libc().sched_yield();
  }

  /** write(2) on the libuv threadpool. */
  write(fd: number, from: Uint8Array): Promise<number> {
    return new Promise((resolve) => {
      fs.write(fd, asBuffer(from), 0, from.byteLength, null, (error, written) => {
        resolve(error ? -errnoOfNodeError(error) : written);
      });
    });
  }
}
