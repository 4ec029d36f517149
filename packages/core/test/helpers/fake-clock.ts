import type { MigrationClock } from '../../src/index.js';

/** A clock that moves only when told to. */
export class FakeClock implements MigrationClock {
  private t = 1000;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}
