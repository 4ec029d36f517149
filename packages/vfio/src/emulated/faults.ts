/** Fault-injection settings of the emulated device. */

/**
 * Make the arc `from → to` fail with `errno`. States are v2 `MigState` values in v2 mode and
 * v1 `device_state` low bits in v1 mode. `leaveIn` is where the failed arc leaves the device
 * (default: `from`; e.g. ERROR, or `to` for an arc that half happened). `times` limits how
 * often it fires (default: every time).
 */
export interface ArcFault {
  /** State before the arc. */
  readonly from: number;
  /** State the arc goes to. */
  readonly to: number;
  /** errno the SET (or v1 device_state write) fails with. */
  readonly errno: number;
  /** Where the device is left; default `from`. */
  readonly leaveIn?: number;
  /** How many times to fire; default unlimited. */
  readonly times?: number;
}

/** Make data reads (or writes) fail with `errno` once `afterBytes` bytes have gone through. */
export interface DataFault {
  /** Bytes that still succeed (a read or write crossing the limit is cut short at it). */
  readonly afterBytes: number;
  /** errno returned from then on (sticky until cleared). */
  readonly errno: number;
}
