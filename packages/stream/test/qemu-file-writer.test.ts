import { describe, expect, it } from 'vitest';
import type { WriteChannel } from '../src/channels/channel.js';
import { StreamIoError } from '../src/errors.js';
import { COPY_LIMIT, IO_BUF_SIZE, QemuFileWriter } from '../src/file/qemu-file-writer.js';
import { RateLimiter } from '../src/file/rate-limiter.js';

/** A channel that records every writev call (copies) and the chunk objects it got. */
class RecordingChannel implements WriteChannel {
  readonly calls: Uint8Array[][] = [];
  readonly chunkRefs: Uint8Array[] = [];
  failOnCall: number | undefined;
  async = false;

  writev(chunks: readonly Uint8Array[]): void | Promise<void> {
    if (this.failOnCall === this.calls.length) {
      const err = Object.assign(new Error('broken pipe'), { code: 'EPIPE' });
      if (this.async) return Promise.reject(err);
      throw err;
    }
    this.calls.push(chunks.map((c) => Buffer.from(c)));
    this.chunkRefs.push(...chunks);
    return this.async ? new Promise((resolve) => setTimeout(resolve, 1)) : undefined;
  }
  bytes(): Buffer {
    return Buffer.concat(this.calls.flat());
  }
  async close(): Promise<void> {}
  shutdown(): void {}
}

describe('QemuFileWriter', () => {
  it('gathers small puts into a 32 KiB buffer before writing', async () => {
    const ch = new RecordingChannel();
    const f = new QemuFileWriter(ch);
    for (let i = 0; i < IO_BUF_SIZE / 4; i++) f.putBe32(i);
    expect(ch.calls).toHaveLength(0); // exactly full: nothing written yet
    f.putU8(0xaa);
    expect(ch.calls).toHaveLength(1);
    expect(ch.calls[0]?.reduce((n, c) => n + c.length, 0)).toBe(IO_BUF_SIZE);
    await f.flush();
    expect(ch.bytes().length).toBe(IO_BUF_SIZE + 1);
    expect(f.bytesWritten).toBe(IO_BUF_SIZE + 1);
    expect(f.bytesFlushed).toBe(IO_BUF_SIZE + 1);
  });

  it('passes a large buffer to writev without copying, in one call with the pending header', async () => {
    const ch = new RecordingChannel();
    const f = new QemuFileWriter(ch);
    const block = Buffer.alloc(1 << 20, 7);
    f.putBe64(0xffffffffef100004n);
    f.putBe64Number(block.length);
    f.putBuffer(block);
    expect(ch.calls).toHaveLength(1); // synchronous channel: written before putBuffer returns
    expect(ch.calls[0]?.map((c) => c.length)).toEqual([16, 1 << 20]);
    expect(ch.chunkRefs[1]).toBe(block);
    await f.flush();
    expect(f.bytesWritten).toBe(16 + (1 << 20));
  });

  it('copies buffers up to COPY_LIMIT', async () => {
    const ch = new RecordingChannel();
    const f = new QemuFileWriter(ch);
    const small = Buffer.alloc(COPY_LIMIT, 1);
    f.putBuffer(small);
    small.fill(2); // must not affect what was put
    await f.flush();
    expect(ch.bytes()).toEqual(Buffer.alloc(COPY_LIMIT, 1));
  });

  it('keeps the first error: later puts are no-ops and flush rejects with it', async () => {
    const ch = new RecordingChannel();
    ch.failOnCall = 0;
    const f = new QemuFileWriter(ch);
    f.putBuffer(Buffer.alloc(8192));
    expect(f.error).toBeInstanceOf(StreamIoError);
    expect((f.error as StreamIoError | undefined)?.errno).toBe('EPIPE');
    const first = f.error;
    f.putBe32(1);
    f.putBuffer(Buffer.alloc(8192));
    await expect(f.flush()).rejects.toBe(first);
    expect(ch.calls).toHaveLength(0);
    expect(f.error).toBe(first);
  });

  it('keeps the first error on an asynchronous channel too', async () => {
    const ch = new RecordingChannel();
    ch.async = true;
    ch.failOnCall = 1;
    const f = new QemuFileWriter(ch);
    f.putBuffer(Buffer.alloc(8192, 1));
    f.putBuffer(Buffer.alloc(8192, 2));
    f.putBuffer(Buffer.alloc(8192, 3));
    await expect(f.flush()).rejects.toBeInstanceOf(StreamIoError);
    expect(ch.calls).toHaveLength(1);
  });

  it('writes in order on an asynchronous channel', async () => {
    const ch = new RecordingChannel();
    ch.async = true;
    const f = new QemuFileWriter(ch);
    const expected: number[] = [];
    for (let i = 0; i < 20000; i++) {
      f.putBe32(i);
      expected.push(i);
      if (i % 5000 === 0) f.putBuffer(Buffer.alloc(5000, i & 0xff));
    }
    await f.flush();
    const out = ch.bytes();
    let at = 0;
    for (let i = 0; i < 20000; i++) {
      expect(out.readUInt32BE(at)).toBe(i);
      at += 4;
      if (i % 5000 === 0) {
        expect(out.subarray(at, at + 5000).every((b) => b === (i & 0xff))).toBe(true);
        at += 5000;
      }
    }
    expect(at).toBe(out.length);
  });

  it('counts bytes against the rate limit in 100 ms windows (queued ones as about to be sent)', () => {
    let now = 0;
    const limiter = new RateLimiter(10_000, () => now); // 1000 bytes per window
    const f = new QemuFileWriter(new RecordingChannel(), { rateLimit: limiter });
    f.putBuffer(Buffer.alloc(999));
    expect(f.rateLimitExceeded()).toBe(false);
    f.putU8(1);
    expect(f.rateLimitExceeded()).toBe(true); // gathered, not yet delivered
    f.startFlush();
    expect(f.bytesFlushed).toBe(1000);
    expect(f.rateLimitExceeded()).toBe(true); // delivered in this window
    now = 99;
    expect(f.rateLimitExceeded()).toBe(true);
    expect(limiter.remainingWindowMs()).toBe(1);
    now = 100;
    expect(f.rateLimitExceeded()).toBe(false);
  });

  it('is unlimited with a rate of 0', () => {
    const f = new QemuFileWriter(new RecordingChannel(), { rateLimit: 0 });
    f.putBuffer(Buffer.alloc(1 << 20));
    expect(f.rateLimitExceeded()).toBe(false);
  });

  it('shutdown makes later writes fail', async () => {
    const f = new QemuFileWriter(new RecordingChannel());
    f.shutdown();
    f.putBe32(1);
    await expect(f.flush()).rejects.toBeInstanceOf(StreamIoError);
  });
});

describe('MemoryWriteChannel', () => {
  it('keeps its own copy of every chunk, so a writer may reuse its buffer', async () => {
    const { MemoryWriteChannel } = await import('../src/channels/memory-channel.js');
    const ch = new MemoryWriteChannel();
    const f = new QemuFileWriter(ch);
    for (let i = 0; i < 3 * IO_BUF_SIZE; i += 4) f.putBe32(i);
    await f.flush();
    const out = ch.bytes();
    expect(out.length).toBe(3 * IO_BUF_SIZE);
    for (let i = 0; i < 3 * IO_BUF_SIZE; i += 4) expect(out.readUInt32BE(i)).toBe(i);
  });
});
