/**
 * Telling a {@link VfioDevice} from anything else handed to a VFIO handler provider. A probe
 * chain offers every attached object to every provider, so a provider must refuse what it
 * does not understand (undefined, a number, another kind of device) with a plain verdict
 * instead of failing on a missing method.
 */
import type { VfioDevice } from './types.js';

/** The verdict reason a VFIO provider gives for an object that is not a {@link VfioDevice}. */
export const NOT_A_VFIO_DEVICE = 'not a VFIO device';

/** The names of the members of `T` that are methods. */
type MethodNames<T> = { [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T];

/** Every method of {@link VfioDevice}: the providers, their handlers and their hooks call them. */
const VFIO_DEVICE_METHODS = [
  'getInfo',
  'getRegionInfo',
  'findRegionByType',
  'readRegion',
  'writeRegion',
  'mapRegionArea',
  'reset',
  'getMigrationFlags',
  'probeMigrationFlags',
  'getState',
  'setState',
  'getStopCopySize',
  'getPrecopyInfo',
  'close',
] as const satisfies readonly MethodNames<VfioDevice>[];

/** Compiles only while {@link VFIO_DEVICE_METHODS} names every method of the interface. */
type Exhaustive<Missing extends never> = Missing;
type EveryVfioDeviceMethodChecked = Exhaustive<Exclude<MethodNames<VfioDevice>, (typeof VFIO_DEVICE_METHODS)[number]>>;

/**
 * Whether `x` is a {@link VfioDevice}: an object (or function) with a string `name` and every
 * method of the interface. `closed` is not read: a getter over private state (as
 * `FdVfioDevice` has) fails when read through a Proxy wrapping the device, and no provider
 * reads it. Never throws: a member whose read throws makes `x` not a device.
 */
export function isVfioDevice(x: unknown): x is VfioDevice {
  if ((typeof x !== 'object' && typeof x !== 'function') || x === null) return false;
  const candidate = x as Record<string, unknown>;
  try {
    return typeof candidate['name'] === 'string' && VFIO_DEVICE_METHODS.every((method) => typeof candidate[method] === 'function');
  } catch {
    return false;
  }
}
