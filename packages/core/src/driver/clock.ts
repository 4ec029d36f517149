/** A source of monotonic milliseconds; tests pass a fake one to control time. */
export interface MigrationClock {
  /** Milliseconds since an arbitrary origin, never decreasing. */
  now(): number;
}

/** The real clock (`performance.now()`). */
export const systemClock: MigrationClock = { now: () => performance.now() };
