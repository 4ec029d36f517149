// A live device for the session benchmarks (not a benchmark itself): `size` bytes of state in
// pages, preallocated and touched when constructed, with a dirty bitmap. Its iterate hook is
// synchronous and honours the rate limit as QEMU's contract asks (`rateLimitExceeded()` before
// every page); it puts each page with ownership 'copy', as a live device must (the guest keeps
// writing its state). While the VM runs, a "guest" timer dirties `dirtyBytesPerSec`.
import { createHash } from 'node:crypto';

const END = 0xffffffff;

export class LiveDevice {
  /**
   * @param {{ size: number, pageSize: number, dirtyBytesPerSec?: number, seed?: number }} o
   */
  constructor(o) {
    this.pageSize = o.pageSize;
    this.pages = Math.ceil(o.size / o.pageSize);
    this.dirtyBytesPerSec = o.dirtyBytesPerSec ?? 0;
    this.rng = o.seed ?? 1;
    this.state = Buffer.allocUnsafeSlow(this.pages * this.pageSize);
    this.state.fill(0xa5); // touches every page: the state is resident before anything is measured
    for (let p = 0; p < this.pages; p++) this.state.writeUInt32LE(p, p * this.pageSize);
    this.dirty = new Uint8Array(this.pages);
    this.dirtyCount = 0;
    this.cursor = 0;
    this.guest = undefined;
    this.received = undefined;
  }

  random() {
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
    return this.rng >>> 8;
  }

  mark(p) {
    if (this.dirty[p] === 0) {
      this.dirty[p] = 1;
      this.dirtyCount++;
    }
  }

  /** The guest writes `dirtyBytesPerSec` while the VM runs (every 5 ms, spread over random pages). */
  startGuest() {
    if (this.dirtyBytesPerSec <= 0 || this.guest) return;
    let last = performance.now();
    let carry = 0;
    this.guest = setInterval(() => {
      const now = performance.now();
      carry += ((now - last) / 1000) * this.dirtyBytesPerSec;
      last = now;
      for (; carry >= this.pageSize; carry -= this.pageSize) {
        const p = this.random() % this.pages;
        this.state[p * this.pageSize + 4 + (this.random() % (this.pageSize - 4))] = this.random() & 0xff;
        this.mark(p);
      }
    }, 5);
  }

  stopGuest() {
    clearInterval(this.guest);
    this.guest = undefined;
  }

  /** SHA-256 of the state (compared between the two sides after a migration). */
  digest() {
    return createHash('sha256').update(this.state).digest('hex');
  }

  sendPage(f, p) {
    f.putBe32(p);
    f.putBuffer(this.state.subarray(p * this.pageSize, (p + 1) * this.pageSize), 'copy');
    this.dirty[p] = 0;
    this.dirtyCount--;
  }

  /** Dirty pages from where the last round stopped, until the rate limit (or the queue cap) says stop. */
  send(f, honourLimit) {
    for (let seen = 0; seen < this.pages && this.dirtyCount > 0; seen++) {
      const p = this.cursor;
      this.cursor = (this.cursor + 1) % this.pages;
      if (this.dirty[p] === 0) continue;
      if (honourLimit && f.rateLimitExceeded()) {
        this.cursor = p;
        break;
      }
      this.sendPage(f, p);
    }
    f.putBe32(END);
  }

  // ---- SaveVMHandlers -------------------------------------------------------------------

  saveSetup(f) {
    f.putBe32(this.pageSize);
    f.putBe32(this.pages);
    for (let p = 0; p < this.pages; p++) this.mark(p);
    this.startGuest();
  }

  statePendingEstimate() {
    return { mustPrecopy: this.dirtyCount * this.pageSize, canPostcopy: 0 };
  }

  saveLiveIterate(f) {
    this.send(f, true);
    return this.dirtyCount === 0;
  }

  saveLiveCompletePrecopy(f) {
    this.stopGuest();
    this.send(f, false);
  }

  saveCleanup() {
    this.stopGuest();
  }

  async loadState(f) {
    if (this.received === undefined) {
      const pageSize = await f.getBe32();
      const pages = await f.getBe32();
      if (pageSize !== this.pageSize || pages !== this.pages) throw new Error(`geometry ${pages}×${pageSize} differs`);
      this.received = true;
      return;
    }
    for (;;) {
      const p = await f.getBe32();
      if (p === END) return;
      if (p >= this.pages) throw new Error(`page ${p} out of range`);
      await f.readInto(this.state.subarray(p * this.pageSize, (p + 1) * this.pageSize));
    }
  }
}
