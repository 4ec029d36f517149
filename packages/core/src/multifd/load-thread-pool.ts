/**
 * The destination's background load work (QEMU's load thread pool): started by
 * `switchoverStart` hooks, waited for after EOF. docs/design/multifd.md §4.
 */

/** Work started on the destination, waited for after EOF. */
export class LoadThreadPool {
  private readonly running: Promise<void>[] = [];
  private readonly controller = new AbortController();
  private firstFailure: { error: unknown } | undefined;

  /** The signal every piece of work gets. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** How many pieces of work were started. */
  get size(): number {
    return this.running.length;
  }

  /** Starts `work` now; its rejection is kept for {@link waitAll} (and aborts the others). */
  start(work: (signal: AbortSignal) => Promise<void>): void {
    const run = (async () => work(this.controller.signal))().catch((error: unknown) => {
      if (this.firstFailure === undefined) this.firstFailure = { error };
      this.abort(error);
    });
    this.running.push(run);
  }

  /** Aborts every piece of work (the load failed, or no more input can come). */
  abort(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Waits until all work has ended, however it ended. */
  async settled(): Promise<void> {
    await Promise.all(this.running);
  }

  /** Waits for all work; rejects with the first failure. */
  async waitAll(): Promise<void> {
    await Promise.all(this.running);
    if (this.firstFailure !== undefined) throw this.firstFailure.error;
  }
}
