/**
 * The transfer timeout: a channel wrapper that shuts its channel down when a read or a
 * write has been waiting longer than the timeout without a single byte moving (a cut
 * link, a peer that stopped reading). The failed operation then rejects with a
 * {@link TransportError} of phase `transfer` instead of hanging until TCP gives up.
 */
import { isPromiseLike } from '@savevm/core';
import type { ReadChannel, WriteChannel } from '@savevm/stream';
import { TransportError } from './transport-error.js';

/**
 * Wraps a read and/or write channel with a transfer timeout. Time only counts while an
 * operation is pending: a source paused by its rate limit, or a destination whose reader
 * is not asking, never times out.
 */
export class WatchdogChannel implements ReadChannel, WriteChannel {
  private pending = 0;
  private lastProgress = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 0;
  private lastTick = 0;
  private expired: TransportError | undefined;

  /**
   * @param inner the channel to watch
   * @param timeoutMs longest wait without progress, ms (> 0)
   * @param uri names the transport in the error
   */
  constructor(
    private readonly inner: Partial<ReadChannel> & Partial<WriteChannel> & Pick<ReadChannel, 'close' | 'shutdown'>,
    readonly timeoutMs: number,
    private readonly uri: string,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`transfer timeout ${timeoutMs} must be > 0`);
  }

  /** Why the channel was shut down, once the timeout expired. */
  get timedOut(): TransportError | undefined {
    return this.expired;
  }

  /** Reads through the inner channel, under the timeout. */
  read(into: Uint8Array): number | Promise<number> {
    if (this.expired) return Promise.reject(this.expired);
    if (!this.inner.read) throw new Error('not a read channel');
    const r = this.inner.read(into);
    if (!isPromiseLike(r)) return this.progressed(r);
    return this.watch(r).then((n) => this.progressed(n));
  }

  /** Writes through the inner channel, under the timeout. */
  writev(chunks: readonly Uint8Array[]): void | Promise<void> {
    if (this.expired) return Promise.reject(this.expired);
    if (!this.inner.writev) throw new Error('not a write channel');
    const r = this.inner.writev(chunks);
    if (!isPromiseLike(r)) {
      this.progressed(0);
      return undefined;
    }
    return this.watch(r).then(() => {
      this.progressed(0);
    });
  }

  /** Stops watching and closes the inner channel. */
  async close(): Promise<void> {
    this.stopTimer();
    await this.inner.close();
  }

  /** Stops watching and shuts the inner channel down. */
  shutdown(): void {
    this.stopTimer();
    this.inner.shutdown();
  }

  private progressed<T>(value: T): T {
    this.lastProgress = Date.now();
    return value;
  }

  private async watch<T>(operation: Promise<T>): Promise<T> {
    if (this.pending++ === 0) {
      this.lastProgress = Date.now();
      this.startTimer();
    }
    try {
      return await operation;
    } catch (err) {
      throw this.expired ?? err;
    } finally {
      if (--this.pending === 0) this.stopTimer();
    }
  }

  private startTimer(): void {
    const tick = Math.max(10, Math.min(1000, Math.floor(this.timeoutMs / 4)));
    this.tickMs = tick;
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.check(), tick);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = Date.now();
    // A tick far later than due: this process did not run (SIGSTOP, a suspended host, a
    // starved event loop). That time is not the peer's: it is not counted, and the bytes
    // that arrived meanwhile get their turn before the peer is blamed.
    const stalledMs = now - this.lastTick - this.tickMs;
    this.lastTick = now;
    if (stalledMs > this.tickMs) this.lastProgress = Math.min(now, this.lastProgress + stalledMs);
    const idle = now - this.lastProgress;
    if (this.pending === 0 || idle < this.timeoutMs || this.expired) return;
    this.expired = new TransportError({
      uri: this.uri,
      phase: 'transfer',
      detail: `no bytes moved for ${(idle / 1000).toFixed(1)} s (transfer timeout ${formatMs(this.timeoutMs)}); the link or the peer is gone`,
      code: 'ETIMEDOUT',
    });
    this.stopTimer();
    this.inner.shutdown();
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
