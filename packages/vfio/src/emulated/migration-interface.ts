/**
 * What the emulated device asks of its migration interface, whichever protocol it speaks:
 * the v2 state machine (`v2/`) or the v1 migration region (`v1/`).
 */
import type { DataSessionSlot } from './data-session-slot.js';
import type { RegionBacking } from './device-regions.js';
import type { DeviceStateBytes } from './device-state.js';
import type { DeviceFaults } from './faults/device-faults.js';

/** The device's migration interface, as the device model and its DMA engine see it. */
export interface MigrationInterface {
  /** The current state as a number (a v2 `MigState`, or the v1 `device_state` bits). */
  readonly stateValue: number;
  /** Whether the device runs (does DMA, dirties its state) in the current state. */
  isRunning(): boolean;
  /** VFIO_DEVICE_RESET: back to running (the session was ended already). */
  reset(): void;
  /** The regions it adds after the PCI ones. */
  readonly regions: readonly RegionBacking[];
}

/** The parts of the device a migration interface works on. */
export interface MigrationParts {
  /** The device's state bytes. */
  readonly state: DeviceStateBytes;
  /** The device's current data session. */
  readonly sessions: DataSessionSlot;
  /** The device's armed faults. */
  readonly faults: DeviceFaults;
  /** Where each arc taken is logged (`[from, to]`). */
  readonly arcLog: Array<readonly [number, number]>;
  /** Size of the device state, bytes (for a resuming session). */
  readonly stateSize: number;
  /** Dirty-tracking page size, bytes (for a resuming session). */
  readonly pageSize: number;
}
