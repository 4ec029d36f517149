/**
 * The synthetic guest behind `--memory …,dirty-rate=RATE`: while the VM runs, it writes
 * RATE / 4096 pages a second into the RAM at seeded-random offsets, each write followed by
 * telling the RAM's software dirty source. It is a run-state change handler, so it stops
 * when the VM stops at switchover (as vCPUs do) and runs again when a failed migration
 * restarts the VM.
 */
import type { VmChangeStateHandler } from '@savevm/core';
import type { GuestRam, RamBlock } from '@savevm/ram';
import { MEMORY_PAGE_SIZE } from '../args/memory-spec.js';
import { SeededWrites } from '../devices/seeded-bytes.js';

/**
 * The guest's run-state priority: handlers run in descending priority when the VM stops,
 * so the guest stops before any device (and starts after every device), as vCPUs do.
 */
export const RAM_GUEST_PRIORITY = 1000;

/** How often the guest wakes up while it runs, ms. */
const TICK_MS = 10;

/** A guest dirtying one RAM block exactly while the VM runs. */
export class RamGuest implements VmChangeStateHandler {
  private readonly writes: SeededWrites;
  private readonly pagesPerSecond: number;
  private timer: NodeJS.Timeout | undefined;
  private carry = 0;
  private last = 0;
  private count = 0;

  /**
   * @param ram the VM's RAM (its software dirty source is told of every write)
   * @param block the block written
   * @param seed the seed the writes are drawn from (the RAM's)
   * @param bytesPerSecond bytes dirtied per second, one page per 4096 (0: the guest never writes)
   */
  constructor(
    private readonly ram: GuestRam,
    private readonly block: RamBlock,
    seed: number,
    bytesPerSecond: number,
  ) {
    this.writes = new SeededWrites(block.usedLength, seed);
    this.pagesPerSecond = bytesPerSecond / MEMORY_PAGE_SIZE;
  }

  /** Writes made so far, one page dirtied each. */
  get pagesDirtied(): number {
    return this.count;
  }

  /** Whether the guest is writing now. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Runs while the VM runs: starts with it, stops with it. */
  change(running: boolean): void {
    if (running) this.start();
    else this.stop();
  }

  /** Stops writing (also when the VM is left running, before the CLI reads the RAM's digest). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    if (this.timer !== undefined || this.pagesPerSecond <= 0) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    this.carry += ((now - this.last) / 1000) * this.pagesPerSecond;
    this.last = now;
    const pages = Math.floor(this.carry);
    this.carry -= pages;
    const bytes = this.block.bytes;
    for (let i = 0; i < pages; i++) {
      const { offset, value } = this.writes.next();
      bytes[offset] = (bytes[offset] ?? 0) ^ value;
      this.ram.markDirty(this.block, offset, 1);
      this.count++;
    }
  }
}
