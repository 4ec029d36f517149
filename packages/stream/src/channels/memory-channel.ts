import type { ReadChannel, WriteChannel } from './channel.js';

/** A write channel that keeps everything in memory (tests, snapshots to a buffer). */
export class MemoryWriteChannel implements WriteChannel {
  private readonly parts: Uint8Array[] = [];
  private length = 0;
  private closed = false;

  /** Copies the chunks: the writer may reuse them afterwards. */
  writev(chunks: readonly Uint8Array[]): void {
    if (this.closed) throw new Error('memory channel is shut down');
    for (const chunk of chunks) {
      this.parts.push(Uint8Array.prototype.slice.call(chunk));
      this.length += chunk.length;
    }
  }

  /** Everything written so far, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }

  /** Number of bytes written so far. */
  get size(): number {
    return this.length;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  /** Refuses later writes. */
  shutdown(): void {
    this.closed = true;
  }
}

/** A read channel over bytes already in memory; hands out slices without copying. */
export class MemoryReadChannel implements ReadChannel {
  private position = 0;
  private closed = false;

  /** @param source the whole stream */
  constructor(private readonly source: Uint8Array) {}

  /** Copies up to `into.length` bytes. */
  read(into: Uint8Array): number {
    if (this.closed) return 0;
    const n = Math.min(into.length, this.source.length - this.position);
    into.set(this.source.subarray(this.position, this.position + n));
    this.position += n;
    return n;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  /** Makes later reads see the end of the stream. */
  shutdown(): void {
    this.closed = true;
  }
}
