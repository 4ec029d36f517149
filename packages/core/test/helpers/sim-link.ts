import { MemoryWriteChannel, type WriteChannel } from '@savevm/stream';
import type { MigrationClock } from '../../src/index.js';

/**
 * A simulated clock for a source talking to a slow link: time jumps from event to event
 * (a `sleep` ending, the link finishing a write), one event per timer tick, so the code
 * under test runs between events and takes no simulated time itself (and a loop that
 * spins on `setImmediate` instead of waiting for an event shows as many turns per event).
 */
export class EventClock implements MigrationClock {
  private t = 1000;
  private readonly events: { at: number; seq: number; fire: () => void }[] = [];
  private seq = 0;
  private stepping = false;

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.t + Math.max(0, ms), resolve));
  }

  /** Runs `fire` when simulated time reaches `time`. */
  at(time: number, fire: () => void): void {
    this.events.push({ at: time, seq: this.seq++, fire });
    this.events.sort((a, b) => a.at - b.at || a.seq - b.seq);
    if (!this.stepping) {
      this.stepping = true;
      setTimeout(() => this.step(), 0);
    }
  }

  private step(): void {
    const next = this.events.shift();
    if (next === undefined) {
      this.stepping = false;
      return;
    }
    this.t = Math.max(this.t, next.at);
    next.fire();
    setTimeout(() => this.step(), 0);
  }
}

/**
 * A link of `bytesPerMs` on an {@link EventClock}: a write is taken once the bytes before it
 * and its own have crossed the link, in simulated time. Keeps a copy of everything taken,
 * made when it is taken.
 */
export class SlowLink implements WriteChannel {
  readonly out = new MemoryWriteChannel();
  /** Writes taken so far. */
  writes = 0;
  private busyUntil = 0;

  constructor(
    private readonly clock: EventClock,
    private readonly bytesPerMs: number,
  ) {}

  writev(chunks: readonly Uint8Array[]): Promise<void> {
    let n = 0;
    for (const c of chunks) n += c.length;
    this.busyUntil = Math.max(this.clock.now(), this.busyUntil) + n / this.bytesPerMs;
    return new Promise((resolve) =>
      this.clock.at(this.busyUntil, () => {
        this.out.writev(chunks);
        this.writes++;
        resolve();
      }),
    );
  }

  async close(): Promise<void> {}
  shutdown(): void {}
}
