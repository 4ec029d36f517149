/**
 * Where dirty pages come from, composed as QEMU composes its memory listeners
 * (docs/design/ram-section.md §6): every source is started per block when a migration
 * sets up, synced per block at every bitmap sync, and stopped per block at the end.
 */
import type { MaybePromise } from '@savevm/core';
import type { DirtyBitmap } from './dirty-bitmap.js';
import type { RamBlock } from './ram-block.js';

/**
 * A dirty-page source: the VMM's own writes ({@link SoftwareDirtySource}), or a device's
 * DMA writes reported by the kernel (VFIO device DMA logging, a type1 container's or an
 * iommufd page table's dirty bitmap), or anything else that can say which pages of a
 * block were written.
 *
 * Contract: between `start(block)` and `stop(block)` every write to the block's memory
 * that the source covers is reported by the first `sync(block, …)` that begins after the
 * write has landed; `sync` reports by setting bits in `into` (never clearing any) and then
 * forgets what it reported (clear on read). A source that cannot tell reports every page
 * (`into.setAll()`). A throw from any method fails the migration (`DEVICE_FAILED` unless
 * the error says otherwise).
 */
export interface DirtySource {
  /** Names the source in errors and traces. */
  readonly name: string;
  /** Begins logging writes to `block` (QEMU's `log_global_start`). */
  start(block: RamBlock): MaybePromise<void>;
  /**
   * Sets the bit of every page of `block` written since the last sync (or the start) in
   * `into`, one bit per 4 KiB page of the block, and forgets them (QEMU's `log_sync` +
   * `log_clear`).
   */
  sync(block: RamBlock, into: DirtyBitmap): MaybePromise<void>;
  /** Ends logging for `block` (QEMU's `log_global_stop`); called on every ending, once per started block. */
  stop(block: RamBlock): MaybePromise<void>;
}
