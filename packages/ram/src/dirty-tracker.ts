/**
 * The migration bitmaps of one outgoing migration and the sync that fills them from every
 * dirty source (docs/design/ram-section.md §6).
 */
import { isPromiseLike } from '@savevm/core';
import { DirtyBitmap } from './dirty-bitmap.js';
import type { DirtySource } from './dirty-source.js';
import type { RamBlock } from './ram-block.js';

/**
 * One migration bitmap per block, filled from the dirty sources: {@link start} starts
 * every source on every block and sets every bit (the first pass sends everything),
 * {@link sync} moves what the sources saw into the bitmaps, {@link stop} stops what was
 * started.
 */
export class DirtyTracker {
  /** The migration bitmap of each block, in block order. */
  readonly bitmaps: readonly DirtyBitmap[];
  /** How many syncs ran (QEMU's `dirty_sync_count`). */
  syncCount = 0;
  private readonly started: { source: DirtySource; block: RamBlock }[] = [];

  /**
   * @param blocks the blocks, in list order
   * @param sources the dirty sources, in the order they are synced
   */
  constructor(
    readonly blocks: readonly RamBlock[],
    readonly sources: readonly DirtySource[],
  ) {
    this.bitmaps = blocks.map((b) => new DirtyBitmap(b.pageCount));
  }

  /** Dirty pages over all blocks. */
  get dirtyPages(): number {
    let n = 0;
    for (const b of this.bitmaps) n += b.count;
    return n;
  }

  /** Starts every source on every block, then sets every bit and runs a first sync. */
  async start(): Promise<void> {
    for (const source of this.sources) {
      for (const block of this.blocks) {
        const r = source.start(block);
        if (isPromiseLike(r)) await r;
        this.started.push({ source, block });
      }
    }
    for (const b of this.bitmaps) b.setAll();
    await this.sync();
  }

  /** Moves every source's report into the bitmaps (clear on read); returns the pages that became dirty. */
  async sync(): Promise<number> {
    let added = 0;
    for (let i = 0; i < this.blocks.length; i++) {
      const block = this.blocks[i] as RamBlock;
      const bitmap = this.bitmaps[i] as DirtyBitmap;
      const before = bitmap.count;
      for (const source of this.sources) {
        const r = source.sync(block, bitmap);
        if (isPromiseLike(r)) await r;
      }
      added += bitmap.count - before;
    }
    this.syncCount++;
    return added;
  }

  /**
   * Stops every source on every block it was started on, each once, even when one fails;
   * the first failure is thrown after all were tried.
   */
  async stop(): Promise<void> {
    const started = this.started.splice(0);
    let failure: { error: unknown } | undefined;
    for (const { source, block } of started) {
      try {
        const r = source.stop(block);
        if (isPromiseLike(r)) await r;
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}
