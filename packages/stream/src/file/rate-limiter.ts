/** QEMU's rate-limit window (BUFFER_DELAY): the quota is counted per 100 ms. */
export const RATE_LIMIT_WINDOW_MS = 100;

/** A source of monotonic milliseconds (replaceable in tests). */
export type MillisecondClock = () => number;

const monotonicMs: MillisecondClock = () => performance.now();

/**
 * Counts bytes against a bandwidth limit the way QEMU's migration rate limit does: each
 * 100 ms window may carry `bytesPerSecond / 10` bytes; once a window's quota is used the
 * writer waits for the next window. A writer accounts bytes when its channel takes them
 * (QEMU counts at `qemu_fflush`), and asks with the bytes it still has queued, so a slow
 * channel cannot make it run ahead of the limit.
 */
export class RateLimiter {
  private windowStart: number;
  private used = 0;

  /**
   * @param bytesPerSecond the limit; 0 or Infinity means unlimited
   * @param clock monotonic milliseconds
   */
  constructor(
    public bytesPerSecond: number,
    private readonly clock: MillisecondClock = monotonicMs,
  ) {
    this.windowStart = clock();
  }

  /** The byte quota of one window, or Infinity when unlimited. */
  get quota(): number {
    return this.bytesPerSecond > 0 && Number.isFinite(this.bytesPerSecond)
      ? (this.bytesPerSecond * RATE_LIMIT_WINDOW_MS) / 1000
      : Infinity;
  }

  private roll(): void {
    const now = this.clock();
    if (now - this.windowStart >= RATE_LIMIT_WINDOW_MS) {
      this.windowStart = now;
      this.used = 0;
    }
  }

  /** Records `n` bytes the channel took (no clock read: the window rolls when it is checked). */
  account(n: number): void {
    this.used += n;
  }

  /**
   * Whether the current window's quota is used up.
   * @param pendingBytes bytes put but not yet taken by the channel, counted as if sent in this window
   */
  exceeded(pendingBytes = 0): boolean {
    this.roll();
    return this.used + pendingBytes >= this.quota;
  }

  /** Milliseconds until the current window ends. */
  remainingWindowMs(): number {
    return Math.max(0, RATE_LIMIT_WINDOW_MS - (this.clock() - this.windowStart));
  }

  /** Waits until the quota allows more bytes (returns at once when it already does). */
  async waitForQuota(): Promise<void> {
    while (this.exceeded()) {
      const ms = this.remainingWindowMs();
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(ms))));
    }
  }
}
