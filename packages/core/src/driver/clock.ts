/** A source of monotonic milliseconds; tests pass a fake one to control time. */
export interface MigrationClock {
  /** Milliseconds since an arbitrary origin, never decreasing. */
  now(): number;
  /** Waits `ms` milliseconds of this clock's time (a fake clock just moves forward). */
  sleep(ms: number): Promise<void>;
}

/** The real clock (`performance.now()`). */
export const systemClock: MigrationClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};
