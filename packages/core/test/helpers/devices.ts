import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { PendingBytes, SaveVMHandlers, SaveVMHook } from '../../src/index.js';
import type { FakeClock } from './fake-clock.js';

/** Counts every hook call, by name. */
export class CallLog {
  readonly calls: string[] = [];
  count(hook: SaveVMHook | string): number {
    return this.calls.filter((c) => c === hook).length;
  }
}

/** A device with only non-live state: a fixed-size blob written in a FULL section. */
export class BlobDevice implements SaveVMHandlers {
  readonly log = new CallLog();
  loaded: Buffer | undefined;
  constructor(readonly state: Buffer) {}
  saveState(f: QemuFileWriter): void {
    this.log.calls.push('saveState');
    f.putBe32(this.state.length);
    f.putBuffer(this.state);
  }
  async loadState(f: QemuFileReader, versionId: number): Promise<void> {
    this.log.calls.push(`loadState:v${versionId}`);
    const n = await f.getBe32();
    if (n > 1 << 20) throw new Error(`blob of ${n} bytes is too large`);
    this.loaded = await f.getBytes(n);
  }
  saveCleanup(): void {
    this.log.calls.push('saveCleanup');
  }
  loadCleanup(): void {
    this.log.calls.push('loadCleanup');
  }
}

/** End-of-section marker of the RAM-like body. */
const EOS = 0xffffffff;

/** Options of a {@link RamLikeDevice}. */
export interface RamLikeOptions {
  pages: number;
  pageSize: number;
  /** Pages the running guest dirties per (fake) millisecond. */
  dirtyPagesPerMs?: number;
  /** Simulated link speed: the fake clock advances by bytes written / this. */
  linkBytesPerMs?: number;
  /** Most pages one iterate round sends. */
  maxPagesPerRound?: number;
  clock?: FakeClock;
  seed?: number;
}

/**
 * A RAM-like live device: pages with a dirty bitmap. While the VM runs, the guest dirties
 * pages at a fixed rate of fake time; sending advances the fake clock by the link speed.
 */
export class RamLikeDevice implements SaveVMHandlers {
  readonly log = new CallLog();
  readonly memory: Buffer;
  private readonly dirty: Uint8Array;
  private dirtyCount = 0;
  running = true;
  private lastDirtyAt = 0;
  private carry = 0;
  private rng: number;
  /** Destination copy. */
  received: Buffer | undefined;

  constructor(readonly o: RamLikeOptions) {
    this.memory = Buffer.alloc(o.pages * o.pageSize);
    this.rng = o.seed ?? 12345;
    for (let i = 0; i < this.memory.length; i++) this.memory[i] = this.random() & 0xff;
    this.dirty = new Uint8Array(o.pages);
  }

  private random(): number {
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
    return this.rng >>> 8;
  }

  /** The guest writes to memory for the fake time that passed. */
  private guestRuns(): void {
    const clock = this.o.clock;
    if (!clock) return;
    const now = clock.now();
    const elapsed = now - this.lastDirtyAt;
    this.lastDirtyAt = now;
    if (!this.running || !this.o.dirtyPagesPerMs) return;
    this.carry += elapsed * this.o.dirtyPagesPerMs;
    while (this.carry >= 1) {
      this.carry -= 1;
      const page = this.random() % this.o.pages;
      this.memory[page * this.o.pageSize + (this.random() % this.o.pageSize)] = this.random() & 0xff;
      this.markDirty(page);
    }
  }

  private markDirty(page: number): void {
    if (this.dirty[page] === 0) {
      this.dirty[page] = 1;
      this.dirtyCount++;
    }
  }

  private sendDirty(f: QemuFileWriter, limit: number, respectRateLimit: boolean): void {
    const before = f.bytesWritten;
    let sent = 0;
    for (let page = 0; page < this.o.pages && sent < limit && this.dirtyCount > 0; page++) {
      if (this.dirty[page] === 0) continue;
      if (respectRateLimit && f.rateLimitExceeded()) break;
      f.putBe32(page);
      f.putBuffer(this.memory.subarray(page * this.o.pageSize, (page + 1) * this.o.pageSize), 'copy');
      this.dirty[page] = 0;
      this.dirtyCount--;
      sent++;
    }
    f.putBe32(EOS);
    if (this.o.clock && this.o.linkBytesPerMs) this.o.clock.advance((f.bytesWritten - before) / this.o.linkBytesPerMs);
  }

  saveSetup(f: QemuFileWriter): void {
    this.log.calls.push('saveSetup');
    f.putBe32(this.o.pages);
    f.putBe32(this.o.pageSize);
    for (let p = 0; p < this.o.pages; p++) this.markDirty(p);
    this.lastDirtyAt = this.o.clock?.now() ?? 0;
  }

  statePendingEstimate(): PendingBytes {
    this.log.calls.push('statePendingEstimate');
    return { mustPrecopy: this.dirtyCount * this.o.pageSize, canPostcopy: 0 };
  }

  statePendingExact(): PendingBytes {
    this.log.calls.push('statePendingExact');
    this.guestRuns();
    return { mustPrecopy: this.dirtyCount * this.o.pageSize, canPostcopy: 0 };
  }

  saveLiveIterate(f: QemuFileWriter): boolean {
    this.log.calls.push('saveLiveIterate');
    this.sendDirty(f, this.o.maxPagesPerRound ?? Infinity, true);
    this.guestRuns();
    return this.dirtyCount === 0;
  }

  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    this.log.calls.push('saveLiveCompletePrecopy');
    this.guestRuns();
    this.sendDirty(f, Infinity, false);
  }

  saveCleanup(): void {
    this.log.calls.push('saveCleanup');
  }

  loadSetup(): void {
    this.log.calls.push('loadSetup');
  }

  async loadState(f: QemuFileReader): Promise<void> {
    this.log.calls.push('loadState');
    if (!this.received) {
      const pages = await f.getBe32();
      const pageSize = await f.getBe32();
      if (pages !== this.o.pages || pageSize !== this.o.pageSize) throw new Error(`RAM geometry ${pages}x${pageSize} does not match`);
      this.received = Buffer.alloc(pages * pageSize);
      return;
    }
    for (;;) {
      const page = await f.getBe32();
      if (page === EOS) return;
      if (page >= this.o.pages) throw new Error(`page ${page} out of range`);
      await f.readInto(this.received.subarray(page * this.o.pageSize, (page + 1) * this.o.pageSize));
    }
  }

  loadCleanup(): void {
    this.log.calls.push('loadCleanup');
  }
}
