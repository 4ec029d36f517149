/**
 * A guest that keeps writing RAM while the VM runs: every tick it writes a few random
 * pages of random blocks and marks them dirty (after the write, as the contract asks), and
 * stops writing as soon as the run state says the VM is stopped.
 */
import type { RunStateController } from '@savevm/core';
import type { GuestRam } from '../../src/index.js';

/** What the guest did. */
export interface BusyGuest {
  /** Writes done so far. */
  readonly writes: number;
  /** Writes done while the migration was live (before the VM stopped). */
  stop(): void;
}

/** Starts a guest writing `pagesPerTick` pages every `tickMs` while `runState` is running. */
export function busyGuest(ram: GuestRam, runState: RunStateController, pagesPerTick = 4, tickMs = 1, seed = 1): BusyGuest {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  let writes = 0;
  const timer = setInterval(() => {
    if (!runState.isRunning) return;
    for (let i = 0; i < pagesPerTick; i++) {
      const block = ram.blocks[next() % ram.blocks.length];
      if (block === undefined) return;
      const offset = (next() % block.usedLength) & ~7;
      block.bytes.writeUInt32LE(next(), offset);
      block.bytes.writeUInt32LE(writes, offset + 4);
      ram.markDirty(block, offset, 8);
      writes++;
    }
  }, tickMs);
  return {
    get writes() {
      return writes;
    },
    stop: () => clearInterval(timer),
  };
}
