/**
 * The devices a container or an iommufd opened, and when the owner closes itself: each device
 * leaves the set as it closes, and an owner told to close when idle closes after its last one.
 */
import { FdVfioDevice } from '../device/device.js';
import type { Syscalls } from '../syscalls/syscalls.js';

/** The open devices of one container or iommufd. */
export class OpenDevices {
  readonly #devices = new Set<FdVfioDevice>();
  #closeWhenIdle = false;

  /** @param closeOwner closes the container or iommufd (called when idle, if asked to) */
  constructor(private readonly closeOwner: () => void) {}

  /** Whether `device` was opened here and is still open. */
  has(device: FdVfioDevice): boolean {
    return this.#devices.has(device);
  }

  /**
   * Wraps an opened device fd. When the device closes it leaves the set, `onClose` runs (the
   * owner's own bookkeeping), then the owner closes if it was told to close when idle.
   */
  add(sys: Syscalls, fd: number, name: string, onClose: (device: FdVfioDevice) => void): FdVfioDevice {
    const device: FdVfioDevice = new FdVfioDevice(sys, fd, name, () => {
      this.#devices.delete(device);
      onClose(device);
      if (this.#closeWhenIdle && this.#devices.size === 0) this.closeOwner();
    });
    this.#devices.add(device);
    return device;
  }

  /** Makes the owner close itself when its last device closes. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
  }

  /** Closes every device still open (the owner is closing); returns the first failure (closing goes on past it). */
  closeAll(): unknown {
    this.#closeWhenIdle = false;
    let firstError: unknown;
    for (const device of [...this.#devices]) {
      try {
        device.close();
      } catch (error) {
        firstError ??= error;
      }
    }
    return firstError;
  }
}
