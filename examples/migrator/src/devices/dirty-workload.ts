/**
 * The guest's side of an emulated device: changes its state at a steady rate while the
 * device runs, so pre-copy has something to chase.
 */
import type { EmulatedDeviceModel } from '@savevm/vfio/emulated';

/** How often the workload wakes up, ms. */
const TICK_MS = 10;

/** Dirties `bytesPerSecond` worth of pages of a device while it runs. */
export class DirtyWorkload {
  private timer: NodeJS.Timeout | undefined;
  private carry = 0;
  private last = 0;

  /** @param model the device; @param bytesPerSecond state bytes made dirty per second */
  constructor(
    private readonly model: EmulatedDeviceModel,
    private readonly bytesPerSecond: number,
  ) {}

  /** Starts dirtying (nothing happens while the device is not running). */
  start(): void {
    if (this.timer || this.bytesPerSecond <= 0) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Stops dirtying. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    this.carry += ((now - this.last) / 1000) * (this.bytesPerSecond / this.model.state.pageSize);
    this.last = now;
    const pages = Math.floor(this.carry);
    if (pages === 0) return;
    this.carry -= pages;
    this.model.runWorkload(pages);
  }
}
