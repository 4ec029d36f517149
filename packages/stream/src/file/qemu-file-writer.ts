import type { WriteChannel } from '../channels/channel.js';
import { isSpliceTarget, type SpliceSource } from '../channels/splice.js';
import { StreamError, StreamIoError } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

/** QEMU's IO_BUF_SIZE: small puts are gathered into a buffer of this size. */
export const IO_BUF_SIZE = 32768;
/** Largest buffer `putBuffer` gathers (copies) whatever its ownership; larger lent ones are passed to `writev` as they are. */
export const COPY_LIMIT = 4096;
/**
 * Default {@link QemuFileWriterOptions.queueCap}: 16 MiB put but not yet taken by the
 * channel. The queue only has to keep the link busy while the driver is away between two
 * writes (a hook call, the pending queries, a turn of the event loop: milliseconds), and
 * 16 MiB covers about 13 ms at 10 Gbit/s and 160 ms at 100 MB/s. Past that, queued bytes
 * buy no speed, only memory held for a slow peer; at 16 MiB a source's resident memory
 * grows by far less than a device's state, which is what keeps a migration over a slow
 * link within its memory budget (docs/writing-a-device-handler.md, the rate limit).
 */
export const DEFAULT_QUEUE_CAP = 16 * 1024 * 1024;
/**
 * Most bytes in one batch: chunks put while a write is in flight go to the channel in
 * batches of up to 256 KiB, so an asynchronous channel always has the next batch at hand (the
 * link stays busy), while deliveries, which the rate limit and the bandwidth estimate count,
 * come often enough to measure: every 2.5 ms at 100 MB/s, 40 in a 100 ms window, so a
 * window's bandwidth is within a few percent (with 1 MiB batches it was off by up to 10 %,
 * and the switchover decision with it).
 */
const MAX_BATCH_BYTES = 256 * 1024;
const TWO_32 = 2 ** 32;

/**
 * Who owns a buffer given to {@link QemuFileWriter.putBuffer} once the call returns:
 * `'copy'`: the caller (the writer copied what it still needs, so the buffer may be
 * changed or reused at once); `'lend'`: the writer, until {@link QemuFileWriter.released}
 * resolves (no copy; the caller must leave the bytes untouched until then).
 */
export type BufferOwnership = 'copy' | 'lend';

/** Options of a {@link QemuFileWriter}. */
export interface QemuFileWriterOptions {
  /** Bandwidth limit in bytes per second (0: unlimited), or a shared limiter. */
  rateLimit?: number | RateLimiter;
  /**
   * Whether `channel.writev` completes synchronously (fd channels in sync mode, memory).
   * Detected from the first write when not given.
   */
  synchronous?: boolean;
  /**
   * Most bytes put but not yet taken by the channel ({@link QemuFileWriter.bytesQueued})
   * before `rateLimitExceeded()` says stop (default {@link DEFAULT_QUEUE_CAP}; `Infinity`
   * disables the cap).
   */
  queueCap?: number;
}

/**
 * The writing half of a QEMUFile: big-endian puts gathered in a 32 KiB buffer, large
 * lent buffers passed to `writev` without a copy, a sticky first error, byte counters, a
 * bounded queue and an optional rate limit.
 *
 * Back-pressure: bytes put but not yet taken by the channel are capped
 * ({@link QemuFileWriterOptions.queueCap}); once the cap is reached, or the rate limit's
 * window is used up, `rateLimitExceeded()` says so and `waitForRateLimit()` waits for the
 * channel. The rate limit counts bytes as the channel takes them, not as they are put.
 *
 * Errors are sticky as in QEMU: once a write fails every later put is a no-op, `error`
 * holds the first failure, and `flush()` rejects with it.
 */
export class QemuFileWriter {
  private buffer = Buffer.allocUnsafe(IO_BUF_SIZE);
  private start = 0;
  private used = 0;
  private iov: Uint8Array[] = [];
  private iovBytes = 0;
  /** Settles once the write in flight, and the batch that follows it, have (undefined: none). */
  private inflight: Promise<void> | undefined;
  /**
   * Chunks put while a write is in flight, in batches of up to MAX_BATCH_BYTES (one writev
   * each); `covers` is how many buffers had been lent when the batch's last chunk joined it.
   */
  private batches: { chunks: Uint8Array[]; bytes: number; covers: number }[] = [];
  /** Buffers lent so far, and how many of them the channel has let go (writes settle in order). */
  private lentCount = 0;
  private releasedCount = 0;
  /**
   * The copies 'copy' puts made for an asynchronous channel, while a write holds them; once
   * it settles they are reused (`spare`, by size), so a steady stream of copies holds no
   * more memory than the queue and leaves nothing for the garbage collector.
   */
  private readonly copies = new Set<Uint8Array>();
  private readonly spare = new Map<number, Uint8Array[]>();
  /** Woken whenever the channel takes a write (or fails it). */
  private deliveryWaiters: (() => void)[] = [];
  private firstError: StreamError | undefined;
  private transferred = 0;
  private flushedBytes = 0;
  private sync: boolean | undefined;
  /** The rate limiter (unlimited unless configured); it counts bytes the channel took. */
  readonly rateLimiter: RateLimiter;
  /** Most bytes put but not yet taken by the channel before `rateLimitExceeded()` is true. */
  readonly queueCap: number;

  /** @param channel where the bytes go */
  constructor(
    readonly channel: WriteChannel,
    options: QemuFileWriterOptions = {},
  ) {
    const rl = options.rateLimit;
    this.rateLimiter = rl instanceof RateLimiter ? rl : new RateLimiter(rl ?? 0);
    this.sync = options.synchronous;
    const cap = options.queueCap ?? DEFAULT_QUEUE_CAP;
    if (!(cap > 0)) throw new RangeError(`queueCap ${cap} must be > 0`);
    this.queueCap = cap;
  }

  /** The first error this writer hit, if any. */
  get error(): StreamError | undefined {
    return this.firstError;
  }

  /** Records an error (only the first is kept). */
  setError(err: StreamError): void {
    this.firstError ??= err;
  }

  /** Bytes put so far, buffered or not (QEMU's `qemu_file_transferred`). */
  get bytesWritten(): number {
    return this.transferred;
  }

  /**
   * Bytes the channel has taken so far (delivered: a synchronous write returned, or an
   * asynchronous one settled). The rate limit and the bandwidth estimate count these.
   */
  get bytesFlushed(): number {
    return this.flushedBytes;
  }

  /** Bytes put but not yet taken by the channel: gathered, or queued on an asynchronous channel. */
  get bytesQueued(): number {
    return this.transferred - this.flushedBytes;
  }

  /** True when the queue has reached {@link queueCap}: the caller should stop putting and wait. */
  get needsFlush(): boolean {
    return this.bytesQueued >= this.queueCap;
  }

  /**
   * Whether the caller should stop putting for now (QEMU `qemu_file_rate_limit`): the queue
   * of bytes the channel has not taken reached {@link queueCap}, or the rate limit's quota
   * for the current window is used up by bytes delivered in it plus the queued ones (which
   * will be delivered next), or the writer has failed.
   */
  rateLimitExceeded(): boolean {
    if (this.firstError) return true;
    const queued = this.transferred - this.flushedBytes;
    return queued >= this.queueCap || this.rateLimiter.exceeded(queued);
  }

  /** Makes room for `n` bytes in the gather buffer, writing out what it holds if needed. */
  private room(n: number): void {
    if (this.used + n <= IO_BUF_SIZE) return;
    this.sealBuffer();
    this.writeOut();
    if (this.used + n > IO_BUF_SIZE) {
      // The old buffer is still referenced by a pending asynchronous write: take a fresh one.
      this.buffer = Buffer.allocUnsafe(IO_BUF_SIZE);
      this.start = this.used = 0;
    }
  }

  /** Moves the gathered small puts into the iovec list. */
  private sealBuffer(): void {
    if (this.used > this.start) {
      this.iov.push(this.buffer.subarray(this.start, this.used));
      this.iovBytes += this.used - this.start;
      this.start = this.used;
    }
  }

  /**
   * Hands the iovec list to the channel, or, while a write is in flight, adds it to the
   * batches that go next (one writev each, in order).
   */
  private writeOut(): void {
    if (this.iov.length === 0) return;
    const chunks = this.iov;
    const bytes = this.iovBytes;
    this.iov = [];
    this.iovBytes = 0;
    if (this.firstError) return;
    if (this.inflight === undefined) {
      this.startWrite(chunks, bytes);
      return;
    }
    const last = this.batches[this.batches.length - 1];
    if (last !== undefined && last.bytes + bytes <= MAX_BATCH_BYTES) {
      for (const chunk of chunks) last.chunks.push(chunk);
      last.bytes += bytes;
      last.covers = this.lentCount;
    } else this.batches.push({ chunks, bytes, covers: this.lentCount });
  }

  /**
   * Calls `writev` now; a synchronous channel has taken the bytes when this returns.
   * @param covers buffers lent up to this write's last chunk (default: every one lent so
   *   far, right for a write of everything put); those lent later, in later batches, are
   *   released only with their own write
   */
  private startWrite(chunks: Uint8Array[], bytes: number, covers = this.lentCount): void {
    let result: void | Promise<void>;
    try {
      result = this.channel.writev(chunks);
    } catch (err) {
      this.fail(err);
      this.releasedCount = this.lentCount;
      return;
    }
    if (result === undefined) {
      this.sync = true;
      this.delivered(bytes);
      this.releasedCount = covers;
      if (this.start === this.used) this.start = this.used = 0;
      return;
    }
    this.sync = false;
    const settled = result
      .then(
        () => {
          this.delivered(bytes);
          this.releasedCount = covers;
          this.recycle(chunks);
        },
        (err: unknown) => this.fail(err),
      )
      .then(() => {
        this.inflight = undefined;
        const next = this.batches.shift();
        if (this.firstError !== undefined) {
          this.batches = [];
          this.releasedCount = this.lentCount; // nothing more is written
        } else if (next !== undefined) this.startWrite(next.chunks, next.bytes, next.covers);
        this.wakeDeliveryWaiters();
      });
    this.inflight = settled;
  }

  /** A copy of `data` the writer owns, in a spare buffer of its size when there is one. */
  private copyOf(data: Uint8Array): Uint8Array {
    const copy = this.spare.get(data.length)?.pop() ?? Buffer.allocUnsafeSlow(data.length);
    copy.set(data);
    this.copies.add(copy);
    return copy;
  }

  /** Puts the copies among `chunks` (a write the channel took) back for reuse. */
  private recycle(chunks: readonly Uint8Array[]): void {
    if (this.copies.size === 0) return;
    for (const chunk of chunks) {
      if (!this.copies.delete(chunk)) continue;
      const free = this.spare.get(chunk.length);
      if (free === undefined) this.spare.set(chunk.length, [chunk]);
      else free.push(chunk);
    }
  }

  /** Counts bytes the channel took: towards `bytesFlushed` and the rate limit. */
  private delivered(bytes: number): void {
    this.flushedBytes += bytes;
    this.rateLimiter.account(bytes);
  }

  private wakeDeliveryWaiters(): void {
    const waiters = this.deliveryWaiters;
    if (waiters.length === 0) return;
    this.deliveryWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves the next time the channel takes (or fails) a write. */
  private nextDelivery(): Promise<void> {
    return new Promise((resolve) => this.deliveryWaiters.push(resolve));
  }

  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.setError(
      err instanceof StreamError ? err : new StreamIoError(this.flushedBytes, `write failed: ${message}`, err),
    );
  }

  private count(n: number): void {
    this.transferred += n;
  }

  /** Puts one byte. */
  putU8(v: number): void {
    if (this.firstError) return;
    this.room(1);
    this.buffer[this.used++] = v & 0xff;
    this.count(1);
  }

  /** Puts a big-endian 16-bit value. */
  putBe16(v: number): void {
    if (this.firstError) return;
    this.room(2);
    this.buffer.writeUInt16BE(v & 0xffff, this.used);
    this.used += 2;
    this.count(2);
  }

  /** Puts a big-endian 32-bit value (taken modulo 2^32, so -1 is 0xffffffff). */
  putBe32(v: number): void {
    if (this.firstError) return;
    this.room(4);
    this.buffer.writeUInt32BE(v >>> 0, this.used);
    this.used += 4;
    this.count(4);
  }

  /** Puts a big-endian 64-bit value given as a bigint (exact over the whole u64 range). */
  putBe64(v: bigint): void {
    if (this.firstError) return;
    this.room(8);
    this.buffer.writeBigUInt64BE(BigInt.asUintN(64, v), this.used);
    this.used += 8;
    this.count(8);
  }

  /** Puts a big-endian 64-bit value given as a non-negative safe integer (the fast path for sizes). */
  putBe64Number(v: number): void {
    if (this.firstError) return;
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`putBe64Number: ${v} is not a non-negative safe integer`);
    this.room(8);
    const hi = Math.floor(v / TWO_32);
    this.buffer.writeUInt32BE(hi, this.used);
    this.buffer.writeUInt32BE(v - hi * TWO_32, this.used + 4);
    this.used += 8;
    this.count(8);
  }

  /**
   * Puts raw bytes, with the ownership of `data` stated by `ownership`:
   * - `'lend'` (the default): the writer may keep a reference to `data` (large buffers go
   *   to the channel without a copy) until {@link released} resolves; change or reuse
   *   `data` only after `await f.released()`.
   * - `'copy'`: `data` is the caller's again as soon as this returns (the writer copies
   *   what it cannot write at once).
   */
  putBuffer(data: Uint8Array, ownership: BufferOwnership = 'lend'): void {
    if (this.firstError || data.length === 0) return;
    if (data.length <= COPY_LIMIT) {
      this.room(data.length);
      this.buffer.set(data, this.used);
      this.used += data.length;
      this.count(data.length);
      return;
    }
    // A synchronous channel has written the bytes before writev returns: nothing to copy.
    const chunk = ownership === 'lend' || this.sync === true ? data : this.copyOf(data);
    if (chunk === data) this.lentCount++;
    this.count(data.length);
    this.sealBuffer();
    this.iov.push(chunk);
    this.iovBytes += data.length;
    this.writeOut();
  }

  /**
   * Resolves once no buffer lent to {@link putBuffer} before this call is referenced by
   * the writer or its channel any more (at once on a synchronous channel), so the caller
   * may change or reuse it. Never rejects: a failed write releases its buffers too (check
   * {@link error}).
   */
  async released(): Promise<void> {
    const lent = this.lentCount;
    while (this.releasedCount < lent && this.inflight !== undefined) await this.nextDelivery();
  }

  /**
   * Whether {@link spliceFrom} would let the kernel move the bytes now: the channel is a
   * {@link SpliceTarget} that accepts them (a plain fd in sync mode) and no error is pending.
   */
  canSplice(): boolean {
    return this.firstError === undefined && isSpliceTarget(this.channel) && this.channel.spliceTarget() !== undefined;
  }

  /**
   * Appends exactly `n` bytes taken from `source`, as `putBuffer` of them would: what is
   * gathered is written out first, then the kernel splices the bytes into the channel's fd
   * (no copy through user space). When the channel is no splice target, or the kernel refuses
   * the pair of fds before moving everything, the rest is read into `scratch` and put.
   * The bytes count towards `bytesWritten`, `bytesFlushed` and the rate limit like any put.
   * @returns true when the kernel moved all `n` bytes, false when the read + put fallback ran
   * @throws what the source throws, or a StreamIoError when it ends before `n` bytes; either
   *   way the error is also recorded as the writer's sticky error (the stream is cut short)
   */
  async spliceFrom(source: SpliceSource, n: number, scratch: Uint8Array): Promise<boolean> {
    if (this.firstError || n <= 0) return false;
    let moved = 0;
    const fd = isSpliceTarget(this.channel) ? this.channel.spliceTarget() : undefined;
    if (fd !== undefined) {
      this.sealBuffer();
      this.writeOut();
      while (this.inflight) await this.inflight;
      if (this.start === this.used) this.start = this.used = 0;
      if (this.firstError) return false;
      while (moved < n) {
        const r = this.guard(() => source.spliceTo(fd, n - moved));
        if (r === 'unsupported') break;
        if (r === 0) this.endedShort(n, moved);
        moved += r;
        this.count(r);
        this.delivered(r);
      }
      if (moved === n) return true;
    }
    while (moved < n) {
      const want = Math.min(n - moved, scratch.byteLength);
      let got: number;
      try {
        const r = source.read(scratch.subarray(0, want));
        got = typeof r === 'number' ? r : await r;
      } catch (err) {
        this.fail(err);
        throw err;
      }
      if (got === 0) this.endedShort(n, moved);
      this.putBuffer(got === scratch.byteLength ? scratch : scratch.subarray(0, got), 'lend');
      moved += got;
      // An asynchronous channel may still hold `scratch`: wait before reusing it.
      await this.released();
      if (this.firstError) throw this.firstError;
    }
    return false;
  }

  /** Runs a source call; a throw becomes the sticky error too, and is rethrown as it was. */
  private guard<T>(call: () => T): T {
    try {
      return call();
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  private endedShort(n: number, moved: number): never {
    const err = new StreamIoError(this.flushedBytes, `splice source ended after ${moved} of ${n} bytes`);
    this.setError(err);
    throw err;
  }

  /** Puts a counted string: a u8 length and at most 255 bytes (UTF-8), no NUL. */
  putCountedString(s: string | Uint8Array): void {
    const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    if (bytes.length > 255) throw new RangeError(`counted string of ${bytes.length} bytes exceeds 255`);
    this.putU8(bytes.length);
    this.putBuffer(bytes);
  }

  /** Writes out everything put so far; rejects with the sticky error if there is one. */
  async flush(): Promise<void> {
    this.sealBuffer();
    this.writeOut();
    while (this.inflight) await this.inflight;
    if (this.start === this.used) this.start = this.used = 0;
    if (this.firstError) throw this.firstError;
  }

  /**
   * Starts writing out everything put so far without waiting for the channel to take it
   * (`flush()` without the wait; errors stay sticky for the next check).
   */
  startFlush(): void {
    this.sealBuffer();
    this.writeOut();
  }

  /**
   * Starts writing out what is gathered, then waits until `rateLimitExceeded()` would
   * say false: while the queue is at {@link queueCap}, until the channel takes bytes
   * (woken by each delivery, no polling); while the rate limit's quota is used up, until
   * its window ends. Returns at once when the writer has failed.
   */
  async waitForRateLimit(): Promise<void> {
    this.startFlush();
    while (this.firstError === undefined) {
      const queued = this.bytesQueued;
      if (queued >= this.queueCap && this.inflight !== undefined) await this.nextDelivery();
      else if (this.rateLimiter.exceeded(queued)) {
        const ms = Math.max(1, Math.ceil(this.rateLimiter.remainingWindowMs()));
        await new Promise((resolve) => setTimeout(resolve, ms));
      } else return;
    }
  }

  /** Flushes, then closes the channel. The channel is closed even when the flush fails. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.channel.close();
    }
  }

  /** Fails pending and future writes at once (cancel). */
  shutdown(): void {
    this.setError(new StreamIoError(this.flushedBytes, 'stream shut down'));
    this.channel.shutdown();
  }
}
