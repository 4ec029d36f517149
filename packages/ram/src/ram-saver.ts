/**
 * The source side of the `ram` section: the block list at setup, dirty pages in rounds,
 * the rest at completion (docs/design/ram-section.md §4, §6, §7).
 */
import type { MultifdRamSender } from '@savevm/core';
import { RamFlag, type QemuFileWriter } from '@savevm/stream';
import { MultifdPagePacker } from './multifd-page-packer.js';
import type { DirtyBitmap } from './dirty-bitmap.js';
import { DirtyTracker } from './dirty-tracker.js';
import type { GuestRam } from './guest-ram.js';
import type { RamBlock } from './ram-block.js';
import { ITERATE_CLOCK_CHECK_PAGES, ITERATE_MAX_WAIT_MS, TARGET_PAGE_SIZE } from './ram-constants.js';
import { putBlockList, putEndOfSection, putRecordWord } from './ram-records.js';
import { DEFAULT_RECORD_BATCH_BYTES, RecordBatch } from './record-batch.js';
import { zeroPageTest, type ZeroPageTest } from './zero-page.js';

/** How the source side behaves. */
export interface RamSaverOptions {
  /** Longest time one iterate round sends pages, ms (default 50, QEMU's). */
  readonly maxIterateMs?: number;
  /** A millisecond clock for that limit (default `performance.now`). */
  readonly now?: () => number;
  /** Bytes of records assembled before they go to the writer in one piece (default 1 MiB). */
  readonly batchBytes?: number;
}

/** What the source side has sent so far in this migration. */
export interface RamSaveStats {
  /** PAGE records. */
  pages: number;
  /** ZERO records. */
  zeroPages: number;
  /** Bitmap syncs (the first at setup included). */
  syncs: number;
  /** Iterate rounds (PART sections). */
  rounds: number;
  /** Pages that went on multifd channels (normal and zero; counted in `pages`/`zeroPages` too). */
  multifdPages: number;
}

/** The largest record: word, name (u8 + 255 bytes), page. */
const MAX_RECORD_BYTES = 8 + 1 + 255 + TARGET_PAGE_SIZE;

/** During completion, how many pages go between two turns of the event loop (64 MiB). */
const COMPLETE_YIELD_PAGES = 16384;

/**
 * Writes the `ram` section on the source: {@link setup} starts dirty tracking and writes
 * the block list; {@link iterate} sends dirty pages until the writer's rate limit or the
 * round's time is used up; {@link complete} syncs once more and sends every page left.
 * Pages are scanned in address order from where the previous round stopped, wrapping
 * around; the last block named is remembered across sections, so a round may begin with
 * a CONTINUE record.
 */
export class RamSaver {
  /** What was sent so far. */
  readonly stats: RamSaveStats = { pages: 0, zeroPages: 0, syncs: 0, rounds: 0, multifdPages: 0 };
  private multifd: MultifdRamSender | undefined;
  private packer: MultifdPagePacker | undefined;
  private tracker: DirtyTracker | undefined;
  private blocks: readonly RamBlock[] = [];
  private zeroTests: ZeroPageTest[] = [];
  private lastSent: RamBlock | undefined;
  private cursorBlock = 0;
  private cursorPage = 0;
  private migrating = false;
  private readonly maxIterateMs: number;
  private readonly now: () => number;
  private readonly batch: RecordBatch;

  /** @param ram the blocks and dirty sources to migrate */
  constructor(
    readonly ram: GuestRam,
    options: RamSaverOptions = {},
  ) {
    this.maxIterateMs = options.maxIterateMs ?? ITERATE_MAX_WAIT_MS;
    this.now = options.now ?? (() => performance.now());
    this.batch = new RecordBatch(options.batchBytes ?? DEFAULT_RECORD_BATCH_BYTES);
  }

  /** Dirty pages not sent yet (0 before setup). */
  get dirtyPages(): number {
    return this.tracker?.dirtyPages ?? 0;
  }

  /** The cheap estimate: dirty pages × 4096. */
  get pendingBytes(): number {
    return this.dirtyPages * TARGET_PAGE_SIZE;
  }

  /**
   * Starts tracking (every source on every block; every page dirty), then writes the START
   * body: MEM_SIZE with the block list, EOS. With multifd channels, pages go on them from
   * now on, and the START body gets the first barrier (docs/design/multifd.md §5).
   */
  async setup(f: QemuFileWriter, multifd?: MultifdRamSender): Promise<void> {
    this.multifd = multifd;
    this.packer = multifd === undefined ? undefined : new MultifdPagePacker(multifd);
    this.ram.beginMigration();
    this.migrating = true;
    this.blocks = this.ram.blocks.slice();
    this.zeroTests = this.blocks.map((b) => zeroPageTest(b.bytes));
    this.lastSent = undefined;
    this.cursorBlock = 0;
    this.cursorPage = 0;
    const tracker = new DirtyTracker(this.blocks, this.ram.dirtySources.slice());
    this.tracker = tracker;
    await tracker.start();
    this.stats.syncs++;
    putBlockList(f, this.blocks);
    this.endSection(f, true);
  }

  /**
   * The end of a section body: the packet being filled goes out; with multifd, a barrier
   * where QEMU puts one (every section end in 7.2's mode; setup, each pass and completion in
   * 10.0's, with MULTIFD_FLUSH on the main stream); then EOS.
   */
  private endSection(f: QemuFileWriter, barrier: boolean): void {
    this.batch.flushTo(f);
    const multifd = this.multifd;
    if (multifd !== undefined) {
      this.packer?.flush();
      if (multifd.settings.syncMode === 'per-section') multifd.sync();
      else if (barrier) this.flushBarrier(f);
    }
    putEndOfSection(f);
  }

  /** SYNC on every channel, then MULTIFD_FLUSH on the main stream (QEMU 10.0's `multifd_ram_flush_and_sync`). */
  private flushBarrier(f: QemuFileWriter): void {
    this.packer?.flush();
    this.multifd?.sync();
    this.batch.flushTo(f);
    putRecordWord(f, 0, RamFlag.MULTIFD_FLUSH);
  }

  /** Syncs the bitmaps, then returns dirty pages × 4096 (QEMU's exact pending). */
  async pendingExact(): Promise<number> {
    await this.sync();
    return this.pendingBytes;
  }

  /**
   * One PART body: a sync first when the bitmap is empty (a new pass), then dirty pages
   * until the writer says stop (`rateLimitExceeded`), the round's time is used up, or no
   * dirty page is left; then EOS.
   * @returns true when no dirty page is left for now
   */
  async iterate(f: QemuFileWriter): Promise<boolean> {
    const tracker = this.requireTracker();
    this.stats.rounds++;
    if (tracker.dirtyPages === 0) await this.sync();
    const started = this.now();
    const limit = this.maxIterateMs;
    let sinceCheck = 0;
    this.sendPages(f, () => {
      if (this.limitReached(f)) return true;
      if (++sinceCheck < ITERATE_CLOCK_CHECK_PAGES) return false;
      sinceCheck = 0;
      return this.now() - started > limit;
    });
    this.endSection(f, false);
    return tracker.dirtyPages === 0;
  }

  /**
   * The END body, with the VM stopped: a last sync, every dirty page with no rate limit
   * (only waiting while the writer's queue is full), EOS.
   */
  async complete(f: QemuFileWriter): Promise<void> {
    const tracker = this.requireTracker();
    await this.sync();
    const multifd = this.multifd;
    while (tracker.dirtyPages > 0 && f.error === undefined) {
      let sent = 0;
      this.sendPages(f, () => f.needsFlush || multifd?.isFull() === true || ++sent >= COMPLETE_YIELD_PAGES);
      if (f.needsFlush) await f.waitForRateLimit();
      else if (multifd?.isFull() === true) await multifd.waitForRoom();
      else if (tracker.dirtyPages > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    this.endSection(f, true);
  }

  /** Stops tracking (each started source on each block) and releases the block list; safe to call more than once. */
  async cleanup(): Promise<void> {
    const tracker = this.tracker;
    this.tracker = undefined;
    try {
      await tracker?.stop();
    } finally {
      if (this.migrating) this.ram.endMigration();
      this.migrating = false;
    }
  }

  /** The writer's `rateLimitExceeded()`, counting the records still in the batch as queued. */
  private limitReached(f: QemuFileWriter): boolean {
    if (f.rateLimitExceeded() || this.multifd?.isFull() === true) return true;
    const staged = this.batch.size;
    if (staged === 0) return false;
    const queued = f.bytesQueued + staged;
    return queued >= f.queueCap || f.rateLimiter.exceeded(queued);
  }

  private async sync(): Promise<void> {
    await this.requireTracker().sync();
    this.stats.syncs++;
  }

  private requireTracker(): DirtyTracker {
    if (this.tracker === undefined) throw new Error('the ram section was not set up');
    return this.tracker;
  }

  /**
   * Sends dirty pages from the cursor, wrapping around, until none is left or `stop()`
   * says so (asked after each page). The records go through the batch, which reaches the
   * writer whenever it is full, so `stop()` sees them at most one batch late.
   */
  private sendPages(f: QemuFileWriter, stop: () => boolean): void {
    const tracker = this.requireTracker();
    const bitmaps = tracker.bitmaps;
    const count = this.blocks.length;
    let remaining = tracker.dirtyPages;
    let bi = this.cursorBlock;
    let page = this.cursorPage;
    while (remaining > 0) {
      const bitmap = bitmaps[bi] as DirtyBitmap;
      const p = bitmap.count === 0 ? -1 : bitmap.nextSet(page);
      if (p < 0) {
        bi = bi + 1 === count ? 0 : bi + 1;
        page = 0;
        // A page is sent again only after the scan wraps: a barrier there keeps its older
        // copy on one channel from landing after its newer copy on another.
        if (bi === 0 && this.multifd?.settings.syncMode === 'flush-record') this.flushBarrier(f);
        continue;
      }
      bitmap.testAndClear(p);
      remaining--;
      this.sendPage(f, this.blocks[bi] as RamBlock, this.zeroTests[bi] as ZeroPageTest, p);
      page = p + 1;
      if (stop()) break;
    }
    this.cursorBlock = bi;
    this.cursorPage = page;
  }

  /**
   * One ZERO (fill 0) or PAGE record, with the block's name unless it is the last one named.
   * The page is copied into the batch now; a guest write racing with the copy is caught by
   * the dirty log (docs/design/ram-section.md §7).
   */
  private sendPage(f: QemuFileWriter, block: RamBlock, isZero: ZeroPageTest, page: number): void {
    const packer = this.packer;
    if (packer !== undefined) {
      const offset = page * TARGET_PAGE_SIZE;
      const zero = isZero(offset);
      // QEMU 7.2 finds zero pages before multifd and sends them on the main stream.
      if (!zero || (this.multifd as MultifdRamSender).settings.zeroPagesInPackets) {
        packer.add(block, offset, zero);
        if (zero) this.stats.zeroPages++;
        else this.stats.pages++;
        this.stats.multifdPages++;
        return;
      }
    }
    const batch = this.batch;
    if (!batch.fits(MAX_RECORD_BYTES)) batch.flushTo(f);
    const offset = page * TARGET_PAGE_SIZE;
    const same = block === this.lastSent;
    const zero = isZero(offset);
    batch.word(offset, (zero ? RamFlag.ZERO : RamFlag.PAGE) | (same ? RamFlag.CONTINUE : 0));
    if (!same) {
      batch.name(block);
      this.lastSent = block;
    }
    if (zero) {
      batch.u8(0);
      this.stats.zeroPages++;
    } else {
      batch.page(block.bytes, offset);
      this.stats.pages++;
    }
  }
}
