/**
 * The memory behind `--memory`: allocated as a VMM (and QEMU) allocates guest RAM — shared
 * between threads (a `SharedArrayBuffer`, as vCPU threads share it; here a digest thread
 * reads it), 2 MiB aligned and advised for transparent huge pages (`madvise(MADV_HUGEPAGE)`),
 * so the kernel backs it with 2 MiB pages where it allows. Filling 64 MiB of fresh memory took 320 ms in
 * 4 KiB pages and 50 ms in huge pages on this project's machine (one page fault per page);
 * bench/README.md ("ram") measured the same effect on the loader's side.
 */
import { allocateHugePageMemory, type HugePageMemory } from '@savevm/vfio';

/** Guest memory and how it is backed. */
export type GuestMemory = HugePageMemory;

/**
 * Allocates `size` bytes of shared guest memory, 2 MiB aligned and advised for huge pages
 * (`@savevm/vfio`'s allocateHugePageMemory, which the emulated device's resume uses too).
 */
export function allocateGuestMemory(size: number): GuestMemory {
  return allocateHugePageMemory(size);
}
