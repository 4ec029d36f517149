/**
 * The VFIO device: here an emulated kernel device that speaks VFIO migration v2 (STOP_COPY,
 * P2P and PRE_COPY). A VMM with real hardware opens it with `openVfioDevice({ sysfsPath })`
 * instead; everything after that — `session.attach` and the v2 handlers — is the same.
 */
import { type VfioDevice } from '@savevm/vfio';
import { type EmulatedDeviceModel, createEmulatedDevice } from '@savevm/vfio/emulated';

/** The device's state size: 1 MiB. */
export const GPU_STATE_SIZE = 1024 * 1024;

/** An opened emulated VFIO device. */
export interface EmulatedGpu {
  /** The handle the VFIO handlers use (the same class as for the real kernel). */
  readonly device: VfioDevice;
  /** The emulated device behind it: its state bytes and its guest workload. */
  readonly model: EmulatedDeviceModel;
}

/** Opens an emulated VFIO device named `gpu0`, its state filled from `seed`. */
export function openEmulatedGpu(seed: number): EmulatedGpu {
  const { device, model } = createEmulatedDevice({ name: 'gpu0', stateSize: GPU_STATE_SIZE, seed });
  return { device, model };
}
