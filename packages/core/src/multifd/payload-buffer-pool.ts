/**
 * Reusable payload buffers for the destination's device-state packets (docs/design/multifd.md
 * §4). A packet's payload is read into a buffer taken here; once its handler has written it
 * into the device it releases the buffer, and a later packet of the same size reads into the
 * same memory. Without this, every packet reads into fresh memory and pays a page fault per
 * 4 KiB on first touch (bench/README.md, multifd), most with several channels, whose
 * out-of-order buffers stay queued longer.
 */

/** Free buffers by exact size, up to a total of free bytes. */
export class PayloadBufferPool {
  readonly #free = new Map<number, Buffer[]>();
  #freeBytes = 0;

  /** @param maxFreeBytes most bytes kept free for reuse (more are left to the garbage collector) */
  constructor(private readonly maxFreeBytes: number) {}

  /** Bytes held free for reuse now. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A buffer of exactly `size` bytes: a released one of that size, or a new one. Its contents are undefined. */
  take(size: number): Buffer {
    const reused = this.#free.get(size)?.pop();
    if (reused !== undefined) {
      this.#freeBytes -= size;
      return reused;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /**
   * A function that gives `buffer` back once, on its first call (later calls do nothing):
   * the caller promises not to touch the buffer after calling it.
   */
  releaserOf(buffer: Buffer): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#give(buffer);
    };
  }

  #give(buffer: Buffer): void {
    const size = buffer.byteLength;
    if (size === 0 || this.#freeBytes + size > this.maxFreeBytes) return;
    let list = this.#free.get(size);
    if (list === undefined) {
      list = [];
      this.#free.set(size, list);
    }
    list.push(buffer);
    this.#freeBytes += size;
  }
}
