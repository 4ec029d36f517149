/** One-call setup of an emulated device opened through the normal opener. */
import { openVfioDevice } from '../kernel/open.js';
import type { VfioDevice } from '../device/types.js';
import type { EmulatedDeviceConfig, EmulatedDeviceModel } from './device-model.js';
import { EmulatedVfioKernel } from './kernel.js';

/** An emulated device, opened: the handle handlers use, plus the model and kernel behind it. */
export interface EmulatedDeviceSetup {
  /** The device handle (the same class as for the real kernel). */
  readonly device: VfioDevice;
  /** The emulated device (state bytes, workload, fault injection). */
  readonly model: EmulatedDeviceModel;
  /** The emulated kernel (fd table). */
  readonly kernel: EmulatedVfioKernel;
}

/** Creates an emulated kernel with one device and opens it (`via` cdev by default, or group). */
export function createEmulatedDevice(
  config: EmulatedDeviceConfig = {},
  options: { readonly via?: 'group' | 'cdev'; readonly kernel?: EmulatedVfioKernel } = {},
): EmulatedDeviceSetup {
  const kernel = options.kernel ?? new EmulatedVfioKernel();
  const node = kernel.addDevice(config);
  const device = openVfioDevice(node, { syscalls: kernel, via: options.via ?? 'cdev' });
  return { device, model: node.model, kernel };
}
