import type { PendingBytes, SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

const PAGE = 4096;
const EOS = 0xffffffff;

/**
 * A live device of `pages` 4 KiB pages: setup sends nothing but the end marker, iterate rounds send
 * dirty pages (be32 index + page) while the rate limit allows, END sends the rest, and
 * `dirty()` stands for the guest writing while the VM runs.
 */
export class LiveDevice implements SaveVMHandlers {
  readonly memory: Buffer;
  private readonly dirtyPages: Set<number>;
  /** Hook calls, in order (just the names). */
  readonly calls: string[] = [];

  constructor(readonly pages: number, seed = 1) {
    this.memory = Buffer.alloc(pages * PAGE);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < this.memory.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.memory.writeUInt32LE(x >>> 0, i);
    }
    this.dirtyPages = new Set(Array.from({ length: pages }, (_, i) => i));
  }

  /** Marks `n` pages dirty and changes them (as a running guest would). */
  dirty(n: number): void {
    for (let k = 0; k < n; k++) {
      const i = Math.floor(Math.random() * this.pages);
      this.memory[i * PAGE] = (this.memory[i * PAGE] as number) + 1;
      this.dirtyPages.add(i);
    }
  }

  saveSetup(f: QemuFileWriter): void {
    this.calls.push('saveSetup');
    f.putBe32(EOS);
  }
  statePendingEstimate(): PendingBytes {
    return { mustPrecopy: this.dirtyPages.size * PAGE, canPostcopy: 0 };
  }
  saveLiveIterate(f: QemuFileWriter): boolean {
    for (const i of this.dirtyPages) {
      if (f.rateLimitExceeded()) break;
      this.putPage(f, i);
    }
    f.putBe32(EOS);
    return this.dirtyPages.size === 0;
  }
  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    this.calls.push('saveLiveCompletePrecopy');
    for (const i of this.dirtyPages) this.putPage(f, i);
    f.putBe32(EOS);
  }
  saveCleanup(): void {
    this.calls.push('saveCleanup');
  }
  async loadState(f: QemuFileReader): Promise<void> {
    for (;;) {
      const v = await f.getBe32();
      if (v === EOS) return;
      if (v >= this.pages) throw new Error(`page ${v} is outside the device's ${this.pages} pages`);
      const page = await f.getBytes(PAGE);
      this.memory.set(page, v * PAGE);
    }
  }

  private putPage(f: QemuFileWriter, i: number): void {
    this.dirtyPages.delete(i);
    f.putBe32(i);
    f.putBuffer(Buffer.from(this.memory.subarray(i * PAGE, (i + 1) * PAGE)));
  }
}
