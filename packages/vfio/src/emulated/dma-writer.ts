/**
 * A DMA writer at a rate: an emulated device writing guest pages by DMA, so many pages per
 * second, on a timer (docs/design/vfio-dirty-tracking.md §5). The engine writes only while
 * its device runs.
 */
import type { EmulatedDmaEngine } from './dma-engine.js';

/** How fast and how often. */
export interface DmaWriterOptions {
  /** Pages written per second. */
  readonly pagesPerSecond: number;
  /** Tick interval, ms (default 5). */
  readonly intervalMs?: number;
}

/** Writes pages through an engine on a timer (unref'd: it never keeps the process alive). */
export class EmulatedDmaWriter {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #carry = 0;
  /** Pages written by this writer (the engine refuses while the device is stopped). */
  pagesWritten = 0;

  /**
   * @param engine the device's DMA engine
   * @param options rate and tick
   */
  constructor(
    private readonly engine: EmulatedDmaEngine,
    private readonly options: DmaWriterOptions,
  ) {
    if (!(options.pagesPerSecond >= 0)) throw new RangeError(`DMA rate ${options.pagesPerSecond} is not a non-negative number`);
  }

  /** Whether the timer runs. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts the timer (idempotent). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#last = performance.now();
    this.#carry = 0;
    this.#timer = setInterval(() => this.tick(), this.options.intervalMs ?? 5);
    this.#timer.unref();
  }

  /** Stops the timer (idempotent). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Writes what the time since the last tick is worth; returns the pages written. */
  tick(now = performance.now()): number {
    const due = (this.options.pagesPerSecond * (now - this.#last)) / 1000 + this.#carry;
    this.#last = now;
    const pages = Math.floor(due);
    this.#carry = due - pages;
    const written = this.engine.write(pages);
    this.pagesWritten += written;
    return written;
  }
}
