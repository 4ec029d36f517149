/**
 * The memory behind `--memory`: allocated as a VMM (and QEMU) allocates guest RAM — shared
 * between threads (a `SharedArrayBuffer`, as vCPU threads share it; here a digest thread
 * reads it), 2 MiB aligned and advised for transparent huge pages (`madvise(MADV_HUGEPAGE)`),
 * so the kernel backs it with 2 MiB pages where it allows. Filling 64 MiB of fresh memory took 320 ms in
 * 4 KiB pages and 50 ms in huge pages on this project's machine (one page fault per page);
 * bench/README.md ("ram") measured the same effect on the loader's side.
 */
import { createRequire } from 'node:module';

/** A transparent huge page on x86-64 and arm64 (4 KiB base pages). */
const HUGE_PAGE = 2 * 1024 * 1024;
/** `MADV_HUGEPAGE` from `<sys/mman.h>`. */
const MADV_HUGEPAGE = 14;

/** The libc functions used here (koffi's own types are untyped). */
interface MemoryCalls {
  /** The address of a buffer's first byte. */
  addressOf(buffer: Uint8Array): bigint;
  /** madvise(2); 0 or -1. */
  madvise(buffer: Uint8Array, length: number, advice: number): number;
}

/** The narrow part of koffi this module uses. */
interface KoffiModule {
  load(path: string): { func(name: string, result: string, args: string[]): (...args: unknown[]) => unknown };
  address(value: unknown): bigint;
}

let calls: MemoryCalls | undefined;

/** Binds libc through koffi on first use. */
function memoryCalls(): MemoryCalls {
  if (calls !== undefined) return calls;
  const koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
  const libc = koffi.load('libc.so.6');
  const memcpy = libc.func('memcpy', 'void *', ['void *', 'void *', 'size_t']);
  const madvise = libc.func('madvise', 'int', ['void *', 'size_t', 'int']);
  calls = {
    addressOf: (buffer) => koffi.address(memcpy(buffer, buffer, 0)),
    madvise: (buffer, length, advice) => madvise(buffer, length, advice) as number,
  };
  return calls;
}

/** Guest memory and how it is backed. */
export interface GuestMemory {
  /** The memory, over a `SharedArrayBuffer` (zeroed: the caller fills it). */
  readonly bytes: Buffer;
  /** Whether the kernel took the huge-page advice (false: plain 4 KiB pages). */
  readonly hugePages: boolean;
}

/**
 * Allocates `size` bytes of shared guest memory, 2 MiB aligned and advised for huge pages;
 * falls back to unaligned memory in 4 KiB pages where libc cannot be reached, and to 4 KiB
 * pages where the kernel refuses the advice.
 */
export function allocateGuestMemory(size: number): GuestMemory {
  let libc: MemoryCalls;
  try {
    libc = memoryCalls();
  } catch {
    return { bytes: Buffer.from(new SharedArrayBuffer(size)), hugePages: false };
  }
  const raw = Buffer.from(new SharedArrayBuffer(size + HUGE_PAGE));
  const skew = Number(libc.addressOf(raw) % BigInt(HUGE_PAGE));
  const start = skew === 0 ? 0 : HUGE_PAGE - skew;
  const bytes = raw.subarray(start, start + size);
  return { bytes, hugePages: libc.madvise(bytes, size, MADV_HUGEPAGE) === 0 };
}
