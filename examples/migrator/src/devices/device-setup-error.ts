/** A device could not take part: it would not open, or no provider accepted it. */
import { messageOf } from '@savevm/core';

/** Where setting a device up failed. */
export type DeviceSetupPhase = 'open' | 'probe';

/** A device that could not be set up, naming the device, the phase and the cause. */
export class DeviceSetupError extends Error {
  /**
   * @param device the `--device` spec as written
   * @param phase `open` (opening the device) or `probe` (no handler provider accepted it)
   * @param cause the original error
   */
  constructor(
    readonly device: string,
    readonly phase: DeviceSetupPhase,
    cause: unknown,
  ) {
    super(`device ${device}: ${phase === 'open' ? 'cannot open it' : 'cannot migrate it'}: ${messageOf(cause)}`, { cause });
    this.name = new.target.name;
  }
}
