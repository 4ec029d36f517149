import { fc, test } from '@fast-check/vitest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WriteChannel } from '../src/channels/channel.js';
import { MemoryReadChannel, MemoryWriteChannel } from '../src/channels/memory-channel.js';
import { QemuFileReader, READ_BUF_SIZE } from '../src/file/qemu-file-reader.js';
import { DEFAULT_QUEUE_CAP, QemuFileWriter } from '../src/file/qemu-file-writer.js';
import { RateLimiter } from '../src/file/rate-limiter.js';

/** Lets pending promise callbacks run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * An asynchronous channel whose writes are taken only when the test says so: a write's
 * bytes are copied at that moment (what a socket would send then), then it settles.
 */
class HandChannel implements WriteChannel {
  readonly pending: { chunks: readonly Uint8Array[]; resolve: () => void }[] = [];
  readonly taken: Buffer[] = [];

  writev(chunks: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve) => this.pending.push({ chunks, resolve }));
  }

  /** Takes the oldest write handed over (if any); returns its size. */
  async takeOne(): Promise<number> {
    await turn();
    const w = this.pending.shift();
    if (w === undefined) return 0;
    const bytes = Buffer.concat(w.chunks.map((c) => Buffer.from(c)));
    this.taken.push(bytes);
    w.resolve();
    await turn();
    return bytes.length;
  }

  /** Takes writes until none is left. */
  async takeAll(): Promise<number> {
    let n = 0;
    for (let k = await this.takeOne(); k > 0; k = await this.takeOne()) n += k;
    return n;
  }

  async close(): Promise<void> {}
  shutdown(): void {}
}

/** A synchronous live-iterate hook that honours the rate limit: sends `state` from `offset` in `chunk`-byte copies. */
function iterate(f: QemuFileWriter, state: Uint8Array, offset: number, chunk: number): number {
  let at = offset;
  while (at < state.length && !f.rateLimitExceeded()) {
    f.putBuffer(state.subarray(at, Math.min(at + chunk, state.length)), 'copy');
    at += chunk;
  }
  return at;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the queue cap', () => {
  it('stops a synchronous hook that checks rateLimitExceeded() at the cap: never more than cap + one buffer held', () => {
    const cap = 1 << 20;
    const chunk = 48 * 1024; // no divisor of the cap
    const f = new QemuFileWriter(new HandChannel(), { queueCap: cap });
    const state = new Uint8Array(8 << 20);
    let puts = 0;
    for (let at = 0; at < state.length && !f.rateLimitExceeded(); at += chunk) {
      f.putBuffer(state.subarray(at, at + chunk), 'copy');
      puts++;
      expect(f.bytesQueued).toBeLessThan(cap + chunk);
    }
    expect(puts).toBe(Math.ceil(cap / chunk));
    expect(f.bytesQueued).toBeGreaterThanOrEqual(cap);
    expect(f.needsFlush).toBe(true);
    expect(f.bytesFlushed).toBe(0);
  });

  it('defaults to DEFAULT_QUEUE_CAP; Infinity disables it', () => {
    const block = new Uint8Array(1 << 20);
    const capped = new QemuFileWriter(new HandChannel());
    expect(capped.queueCap).toBe(DEFAULT_QUEUE_CAP);
    let puts = 0;
    while (!capped.rateLimitExceeded()) {
      capped.putBuffer(block, 'lend');
      puts++;
    }
    expect(puts * block.length).toBe(DEFAULT_QUEUE_CAP);
    const uncapped = new QemuFileWriter(new HandChannel(), { queueCap: Infinity });
    for (let i = 0; i < 64; i++) uncapped.putBuffer(block, 'lend');
    expect(uncapped.rateLimitExceeded()).toBe(false);
    expect(uncapped.bytesQueued).toBe(64 << 20);
  });

  it('waitForRateLimit() is woken by the channel taking bytes, not by a timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] }); // a polling wait would never wake
    const chunk = 64 * 1024;
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch, { queueCap: 3 * chunk });
    for (let i = 0; i < 3; i++) f.putBuffer(new Uint8Array(chunk), 'copy');
    expect(f.rateLimitExceeded()).toBe(true);
    let woke = false;
    const waiting = f.waitForRateLimit().then(() => (woke = true));
    await turn();
    await turn();
    expect(woke).toBe(false);
    await ch.takeOne(); // one write taken: the queue is below the cap again
    await waiting;
    expect(woke).toBe(true);
    expect(f.bytesQueued).toBe(2 * chunk);
    expect(f.rateLimitExceeded()).toBe(false);
  });

  it('hands what is put while a write is in flight to the channel in batches of at most 256 KiB, one writev each', async () => {
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch, { queueCap: Infinity });
    for (let i = 0; i < 11; i++) f.putBuffer(new Uint8Array(64 * 1024), 'copy');
    f.putBuffer(new Uint8Array(1 << 20), 'copy'); // larger than a batch: one of its own
    f.putBuffer(new Uint8Array(64 * 1024), 'copy');
    expect(ch.pending).toHaveLength(1); // the first; the rest waits, batched
    const sizes: number[] = [];
    for (let n = await ch.takeOne(); n > 0; n = await ch.takeOne()) sizes.push(n);
    expect(sizes).toEqual([64 * 1024, 256 * 1024, 256 * 1024, 128 * 1024, 1 << 20, 64 * 1024]);
    expect(f.bytesFlushed).toBe(12 * 64 * 1024 + (1 << 20));
  });

  it('waitForRateLimit() and rateLimitExceeded() give up on a failed writer', async () => {
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch, { queueCap: 1 << 16 });
    f.putBuffer(new Uint8Array(1 << 17), 'copy');
    f.shutdown();
    expect(f.rateLimitExceeded()).toBe(true);
    await f.waitForRateLimit(); // returns at once
  });
});

describe('the rate limit counts delivered bytes', () => {
  it('a channel that takes nothing keeps the writer stopped window after window', async () => {
    let now = 0;
    const limiter = new RateLimiter(100_000, () => now); // 10,000 bytes per window
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch, { rateLimit: limiter });
    const state = new Uint8Array(1 << 20);
    let at = iterate(f, state, 0, 8192);
    expect(at).toBe(16384);
    for (let window = 1; window <= 5; window++) {
      now += 100;
      at = iterate(f, state, at, 8192);
    }
    // Counted when put, each new window would have queued another 16 KiB behind a stalled link.
    expect(at).toBe(16384);
    expect(await ch.takeAll()).toBe(16384);
    expect(f.bytesFlushed).toBe(16384);
    expect(f.rateLimitExceeded()).toBe(true); // taken in this window: its quota is used
    now += 100;
    expect(f.rateLimitExceeded()).toBe(false);
  });

  it('over a link slower than the limit, the put rate follows the delivered rate, not the limit', async () => {
    let now = 0;
    const limiter = new RateLimiter(100_000, () => now); // 10,000 bytes per window
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch, { rateLimit: limiter });
    const state = new Uint8Array(4 << 20);
    const windows = 40;
    let at = 0;
    for (let window = 0; window < windows; window++) {
      at = iterate(f, state, at, 5000);
      await ch.takeOne(); // the link takes one 5000-byte write per window: half the limit
      expect(f.bytesQueued).toBeLessThanOrEqual(10_000);
      now += 100;
    }
    expect(f.bytesFlushed).toBe(windows * 5000);
    // Put = delivered + what is queued (at most one window's quota), not windows × 10,000.
    expect(at).toBeLessThanOrEqual(f.bytesFlushed + 10_000);
  });
});

describe('buffer ownership', () => {
  it('a lent buffer goes to the channel as it is and stays referenced until released() resolves', async () => {
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch);
    const buf = Buffer.alloc(65536, 1);
    f.putBuffer(buf, 'lend');
    expect(ch.pending[0]?.chunks).toContain(buf);
    let released = false;
    const waiting = f.released().then(() => (released = true));
    await turn();
    expect(released).toBe(false);
    await ch.takeOne();
    await waiting;
    expect(released).toBe(true);
    buf.fill(2); // the caller's again
    await f.flush();
    expect(Buffer.concat(ch.taken).equals(Buffer.alloc(65536, 1))).toBe(true);
  });

  it('a buffer lent into a later batch is not released when an earlier batch is taken', async () => {
    // Two owners lend: one fills a whole batch behind the write in flight, the other's
    // buffer goes into the batch after it (a RAM batch, then a device's data block).
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch);
    f.putBuffer(Buffer.alloc(65536, 9), 'lend'); // in flight
    f.putBuffer(Buffer.alloc(256 * 1024, 8), 'lend'); // the next batch, full
    const device = Buffer.alloc(65536, 1);
    f.putBuffer(device, 'lend'); // the batch after it
    let released = false;
    const waiting = f.released().then(() => (released = true));
    await ch.takeOne();
    await ch.takeOne();
    expect(released).toBe(false); // `device` is still queued
    await ch.takeOne();
    await waiting;
    device.fill(2); // the caller's again only now
    await f.flush();
    expect(ch.taken[2]?.equals(Buffer.alloc(65536, 1))).toBe(true);
  });

  it('a copied buffer is the caller\'s again as soon as putBuffer returns', async () => {
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch);
    const buf = Buffer.alloc(65536, 1);
    f.putBuffer(buf, 'copy');
    buf.fill(2);
    const flushed = f.flush();
    await ch.takeAll();
    await flushed;
    expect(Buffer.concat(ch.taken).equals(Buffer.alloc(65536, 1))).toBe(true);
  });

  it('reuses its copies once the channel took them: a steady stream of copied pages holds no more than the queue', async () => {
    const ch = new HandChannel();
    const f = new QemuFileWriter(ch);
    const page = Buffer.alloc(64 * 1024, 1);
    f.putBuffer(page, 'copy');
    const first = ch.pending[0]?.chunks[0];
    expect(first).not.toBe(page);
    await ch.takeOne();
    page.fill(2);
    f.putBuffer(page, 'copy');
    expect(ch.pending[0]?.chunks[0]).toBe(first); // the same memory, refilled
    await ch.takeOne();
    expect(ch.taken.map((b) => b[0])).toEqual([1, 2]);
  });

  it('on a synchronous channel, copy costs no copy and released() resolves at once', async () => {
    const refs: Uint8Array[] = [];
    const out = new MemoryWriteChannel();
    const channel: WriteChannel = {
      writev: (chunks) => {
        refs.push(...chunks);
        out.writev(chunks);
      },
      close: async () => undefined,
      shutdown: () => undefined,
    };
    const f = new QemuFileWriter(channel, { synchronous: true });
    const buf = Buffer.alloc(65536, 3);
    f.putBuffer(buf, 'copy');
    expect(refs).toContain(buf);
    f.putBuffer(buf, 'lend');
    await f.released();
    expect(out.size).toBe(2 * 65536);
  });

  /** An asynchronous channel that takes each write after a few turns of the event loop, copying its bytes then. */
  class LaggingChannel implements WriteChannel {
    readonly taken: Buffer[] = [];
    private i = 0;
    constructor(private readonly lags: readonly number[]) {}
    async writev(chunks: readonly Uint8Array[]): Promise<void> {
      const lag = this.lags[this.i++ % this.lags.length] as number;
      for (let t = 0; t < lag; t++) await turn();
      this.taken.push(Buffer.concat(chunks.map((c) => Buffer.from(c))));
    }
    async close(): Promise<void> {}
    shutdown(): void {}
  }

  const putArb = fc.record({
    size: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 4097, max: 70_000 })),
    ownership: fc.constantFrom<'copy' | 'lend'>('copy', 'lend'),
    fill: fc.integer({ min: 0, max: 255 }),
  });

  test.prop([fc.array(putArb, { minLength: 1, maxLength: 25 }), fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 8 })], {
    numRuns: 60,
  })('one reused scratch buffer, refilled only as ownership allows, gives the bytes as they were put', async (puts, lags) => {
    const ch = new LaggingChannel(lags);
    const f = new QemuFileWriter(ch);
    const scratch = Buffer.alloc(70_000);
    const expected: Buffer[] = [];
    let lent = false;
    for (const p of puts) {
      if (lent) await f.released(); // the contract: refill a lent buffer only once released
      scratch.fill(p.fill, 0, p.size);
      f.putBuffer(scratch.subarray(0, p.size), p.ownership);
      expected.push(Buffer.alloc(p.size, p.fill));
      lent = p.ownership === 'lend';
      if (!lent) scratch.fill(0xee); // a copied buffer may be scribbled on at once
    }
    await f.flush();
    expect(Buffer.concat(ch.taken).equals(Buffer.concat(expected))).toBe(true);
  });
});

describe('QemuFileReader.lookAheadLimit', () => {
  it('is the largest ensure, and the most bytes available can report', async () => {
    const r = new QemuFileReader(new MemoryReadChannel(new Uint8Array(3 * READ_BUF_SIZE)));
    expect(r.lookAheadLimit).toBe(READ_BUF_SIZE);
    await r.ensure(r.lookAheadLimit);
    expect(r.available).toBe(r.lookAheadLimit);
    await expect(r.ensure(r.lookAheadLimit + 1)).rejects.toBeInstanceOf(RangeError);
  });
});
