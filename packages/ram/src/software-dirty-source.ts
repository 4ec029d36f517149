/**
 * The dirty source for the VMM's own writes to guest memory: `markDirty(block, offset,
 * length)` after each write, a bitmap per block while a migration tracks it.
 */
import { DirtyBitmap } from './dirty-bitmap.js';
import type { DirtySource } from './dirty-source.js';
import type { RamBlock } from './ram-block.js';

/**
 * Records the pages the VMM says it wrote, per block, while a migration tracks the block
 * (between `start` and `stop`); outside that, `markDirty` only checks its arguments.
 * Call `markDirty` **after** the bytes are written (docs/design/ram-section.md §7).
 */
export class SoftwareDirtySource implements DirtySource {
  /** Names this source. */
  readonly name = 'software';
  private readonly logs = new Map<RamBlock, DirtyBitmap>();

  /** Starts recording writes to `block`. */
  start(block: RamBlock): void {
    if (!this.logs.has(block)) this.logs.set(block, new DirtyBitmap(block.pageCount));
  }

  /** Stops recording writes to `block` and forgets what was recorded. */
  stop(block: RamBlock): void {
    this.logs.delete(block);
  }

  /** Moves the pages recorded for `block` into `into` and forgets them. */
  sync(block: RamBlock, into: DirtyBitmap): void {
    const log = this.logs.get(block);
    if (log !== undefined) into.takeFrom(log);
  }

  /**
   * Marks the pages that `length` bytes at `offset` of `block` touch as written.
   * @throws RamBlockError when the range is outside the block's used length
   */
  markDirty(block: RamBlock, offset: number, length: number): void {
    const { first, count } = block.pagesOf(offset, length);
    const log = this.logs.get(block);
    if (log === undefined || count === 0) return;
    if (count === 1) log.set(first);
    else log.setRange(first, count);
  }

  /** Whether writes to `block` are being recorded. */
  isTracking(block: RamBlock): boolean {
    return this.logs.has(block);
  }
}
