/**
 * The syscall layer every VFIO object talks through. Two implementations: the real one
 * ({@link LibcSyscalls}, koffi + libc) and the emulated kernel. Calls return the kernel's
 * result (≥ 0) or a negated errno (< 0), as the raw syscall does; {@link checked} turns a
 * negative result into a {@link VfioSyscallError}.
 */
import { VfioSyscallError, type ErrorContext } from '../errors.js';

/** The kernel interface: file descriptors, ioctls and plain I/O. */
export interface Syscalls {
  /** open(2); returns an fd or −errno. */
  open(path: string, flags: number): number;
  /** close(2); returns 0 or −errno. */
  close(fd: number): number;
  /** ioctl(2) whose argument is a pointer to `arg` (passed in place) or NULL; result or −errno. */
  ioctl(fd: number, request: number, arg: Uint8Array | null): number;
  /** ioctl(2) whose argument is an integer value (CHECK_EXTENSION, SET_IOMMU); result or −errno. */
  ioctlValue(fd: number, request: number, value: number): number;
  /** pread(2) of `into.byteLength` bytes at `offset`; bytes read or −errno. */
  pread(fd: number, into: Uint8Array, offset: number): number;
  /** pwrite(2) of `from` at `offset`; bytes written or −errno. */
  pwrite(fd: number, from: Uint8Array, offset: number): number;
  /** read(2) at the current position, without blocking the event loop; bytes read or −errno. */
  read(fd: number, into: Uint8Array): Promise<number>;
  /** write(2) at the current position, without blocking the event loop; bytes written or −errno. */
  write(fd: number, from: Uint8Array): Promise<number>;
  /**
   * Optional: splice(2) of up to `length` bytes from `fdIn` to `fdOut` at their current
   * positions (no offsets), synchronously; bytes moved (0: `fdIn` ended) or −errno. Layers
   * without it (the emulated kernel) never offer a zero-copy data path.
   */
  splice?(fdIn: number, fdOut: number, length: number, flags: number): number;
  /** Optional: sched_yield(2), letting a producer on the same CPU run before a readiness re-check. */
  yieldCpu?(): void;
  /**
   * Optional: mmap(2) of `length` bytes of `fd` at `offset`, MAP_SHARED, readable (and
   * writable when `writable`); the mapping, or −errno (errno read right after the failure).
   * Layers without it never offer a mapped path: callers fall back to pread/pwrite.
   */
  mmap?(fd: number, offset: number, length: number, writable: boolean): MemoryMapping | number;
  /** Optional (present with {@link mmap}): munmap(2) of a mapping {@link mmap} returned; 0 or −errno. */
  munmap?(mapping: MemoryMapping): number;
  /**
   * Optional: the user address of `bytes`' first byte, for ioctl structs that carry pointers
   * (DMA mappings, dirty bitmaps, DMA logging ranges). The memory must stay alive and in
   * place while the kernel may use it. Layers without it cannot issue those ioctls.
   */
  addressOf?(bytes: Uint8Array): bigint;
}

/**
 * A shared mapping of part of a file, as {@link Syscalls.mmap} returns it. `bytes` is the
 * mapped memory itself: it must not be touched after {@link Syscalls.munmap} (on the real
 * kernel the pages are gone and an access faults the process).
 */
export interface MemoryMapping {
  /** The mapped bytes, `length` long. */
  readonly bytes: Uint8Array;
}

/** mmap(2) protection bits (asm-generic/mman-common.h). */
export const MmapProt = {
  /** Pages may be read. */
  READ: 1,
  /** Pages may be written. */
  WRITE: 2,
} as const;

/** mmap(2) MAP_SHARED: stores go to the file (the device), and other mappings see them. */
export const MAP_SHARED = 1;

/** splice(2) flags (include/linux/splice.h). */
export const SpliceFlags = {
  /** Move pages instead of copying (a hint). */
  MOVE: 1,
  /** Do not block on the pipe end(s). */
  NONBLOCK: 2,
  /** More data will follow (like MSG_MORE on a socket). */
  MORE: 4,
} as const;

/** ioctl(FIONREAD): bytes readable now without blocking, as an int (pipes, sockets, ttys). */
export const FIONREAD = 0x541b;

/** Throws a {@link VfioSyscallError} when `result` is negative; returns it otherwise. */
export function checked(result: number, syscall: string, context: ErrorContext): number {
  if (result < 0) throw new VfioSyscallError(-result, syscall, context);
  return result;
}
