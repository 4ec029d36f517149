import type { WriteChannel } from '../channels/channel.js';
import { isSpliceTarget, type SpliceSource } from '../channels/splice.js';
import { StreamError, StreamIoError } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

/** QEMU's IO_BUF_SIZE: small puts are gathered into a buffer of this size. */
export const IO_BUF_SIZE = 32768;
/** Largest buffer `putBuffer` copies; larger ones are passed to `writev` as they are. */
export const COPY_LIMIT = 4096;
/** Bytes an asynchronous channel may have queued before `needsFlush` says so. */
const ASYNC_HIGH_WATER = 8 * 1024 * 1024;
const TWO_32 = 2 ** 32;

/** Options of a {@link QemuFileWriter}. */
export interface QemuFileWriterOptions {
  /** Bandwidth limit in bytes per second (0: unlimited), or a shared limiter. */
  rateLimit?: number | RateLimiter;
  /**
   * Whether `channel.writev` completes synchronously (fd channels in sync mode, memory).
   * Detected from the first write when not given.
   */
  synchronous?: boolean;
}

/**
 * The writing half of a QEMUFile: big-endian puts gathered in a 32 KiB buffer, large
 * buffers passed to `writev` without a copy, a sticky first error, a byte counter and an
 * optional rate limit.
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
  private inflight: Promise<void> | undefined;
  private queuedBytes = 0;
  private firstError: StreamError | undefined;
  private transferred = 0;
  private flushedBytes = 0;
  private sync: boolean | undefined;
  /** The rate limiter (unlimited unless configured). */
  readonly rateLimiter: RateLimiter;

  /** @param channel where the bytes go */
  constructor(
    readonly channel: WriteChannel,
    options: QemuFileWriterOptions = {},
  ) {
    const rl = options.rateLimit;
    this.rateLimiter = rl instanceof RateLimiter ? rl : new RateLimiter(rl ?? 0);
    this.sync = options.synchronous;
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

  /** Bytes handed to the channel so far. */
  get bytesFlushed(): number {
    return this.flushedBytes;
  }

  /** True when enough is queued on an asynchronous channel that the caller should `flush()`. */
  get needsFlush(): boolean {
    return this.queuedBytes + this.iovBytes + (this.used - this.start) >= ASYNC_HIGH_WATER;
  }

  /** Whether the rate limit's quota for the current window is used up. */
  rateLimitExceeded(): boolean {
    return this.rateLimiter.exceeded();
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

  /** Hands the iovec list to the channel (synchronously when the channel is synchronous). */
  private writeOut(): void {
    if (this.iov.length === 0) return;
    const chunks = this.iov;
    const bytes = this.iovBytes;
    this.iov = [];
    this.iovBytes = 0;
    if (this.firstError) return;
    if (this.sync !== false && !this.inflight) {
      let result: void | Promise<void>;
      try {
        result = this.channel.writev(chunks);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (result === undefined) {
        this.sync = true;
        this.flushedBytes += bytes;
        if (this.start === this.used) this.start = this.used = 0;
        return;
      }
      this.sync = false;
      this.track(result, bytes);
      return;
    }
    const previous = this.inflight ?? Promise.resolve();
    this.track(
      previous.then(() => (this.firstError ? undefined : this.channel.writev(chunks))),
      bytes,
    );
  }

  private track(write: Promise<void>, bytes: number): void {
    this.queuedBytes += bytes;
    const settled = write.then(
      () => {
        this.queuedBytes -= bytes;
        this.flushedBytes += bytes;
      },
      (err: unknown) => {
        this.queuedBytes -= bytes;
        this.fail(err);
      },
    );
    this.inflight = settled;
    void settled.then(() => {
      if (this.inflight === settled) this.inflight = undefined;
    });
  }

  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.setError(
      err instanceof StreamError ? err : new StreamIoError(this.flushedBytes, `write failed: ${message}`, err),
    );
  }

  private count(n: number): void {
    this.transferred += n;
    this.rateLimiter.account(n);
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
   * Puts raw bytes. Up to {@link COPY_LIMIT} bytes are copied; larger buffers are passed
   * to the channel as they are (zero-copy). On a synchronous channel they are written
   * before this returns; on an asynchronous one the caller must leave `data` untouched
   * until the next `flush()` resolves.
   */
  putBuffer(data: Uint8Array): void {
    if (this.firstError || data.length === 0) return;
    if (data.length <= COPY_LIMIT) {
      this.room(data.length);
      this.buffer.set(data, this.used);
      this.used += data.length;
      this.count(data.length);
      return;
    }
    this.count(data.length);
    this.sealBuffer();
    this.iov.push(data);
    this.iovBytes += data.length;
    this.writeOut();
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
        this.flushedBytes += r;
        this.count(r);
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
      this.putBuffer(got === scratch.byteLength ? scratch : scratch.subarray(0, got));
      moved += got;
      // An asynchronous channel may still hold `scratch`: wait before reusing it.
      if (this.bytesFlushed < this.bytesWritten && got > COPY_LIMIT) await this.flush().catch(() => undefined);
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

  /** Waits until the rate limit allows more bytes. */
  async waitForRateLimit(): Promise<void> {
    await this.rateLimiter.waitForQuota();
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
