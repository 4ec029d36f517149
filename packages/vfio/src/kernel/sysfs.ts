/**
 * Finding a device's VFIO group number and cdev name from sysfs, given its sysfs path or an
 * mdev UUID. The sysfs root is a parameter so tests can point it at a fake tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VfioError } from '../errors.js';

/** Where a VFIO device can be opened from. */
export interface VfioDeviceLocation {
  /** Device name for GROUP_GET_DEVICE_FD: the PCI address or the mdev UUID. */
  readonly name: string;
  /** The device's sysfs directory. */
  readonly sysfsPath: string;
  /** IOMMU group number (`/dev/vfio/<group>`), when the device has one. */
  readonly group?: number;
  /** cdev node name (`vfioN` under `/dev/vfio/devices/`), when the kernel has VFIO_DEVICE_CDEV. */
  readonly cdev?: string;
}

/** What to locate: a sysfs device directory, or an mdev by UUID. */
export type VfioDeviceSpec =
  | {
      /** A device directory in sysfs, e.g. `/sys/bus/pci/devices/0000:01:00.0`. */
      readonly sysfsPath: string;
    }
  | {
      /** The UUID of a mediated device, looked up under `/sys/bus/mdev/devices`. */
      readonly mdevUuid: string;
    };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Resolves a {@link VfioDeviceSpec} to a {@link VfioDeviceLocation} by reading sysfs under `sysfsRoot`. */
export function locateVfioDevice(spec: VfioDeviceSpec, sysfsRoot = '/sys'): VfioDeviceLocation {
  let devicePath: string;
  if ('mdevUuid' in spec) {
    if (!UUID.test(spec.mdevUuid)) throw new VfioError(`"${spec.mdevUuid}" is not a UUID`, { op: 'locate mdev' });
    devicePath = path.join(sysfsRoot, 'bus', 'mdev', 'devices', spec.mdevUuid);
  } else {
    devicePath = spec.sysfsPath;
  }
  const context = { device: devicePath, op: 'locate in sysfs' };
  let realPath: string;
  try {
    realPath = fs.realpathSync(devicePath);
  } catch (error) {
    throw new VfioError('no such device in sysfs', context, { cause: error });
  }
  const name = path.basename(realPath);
  let group: number | undefined;
  try {
    const target = fs.readlinkSync(path.join(realPath, 'iommu_group'));
    const parsed = Number(path.basename(target));
    if (Number.isSafeInteger(parsed) && parsed >= 0) group = parsed;
  } catch {
    // no iommu_group link: the device cannot be opened through a group
  }
  let cdev: string | undefined;
  try {
    cdev = fs.readdirSync(path.join(realPath, 'vfio-dev')).find((entry) => /^vfio\d+$/.test(entry));
  } catch {
    // no vfio-dev directory: no cdev for this device
  }
  if (group === undefined && cdev === undefined) {
    throw new VfioError('device has neither an iommu_group nor a vfio-dev cdev (not bound to a VFIO driver?)', context);
  }
  return { name, sysfsPath: realPath, ...(group !== undefined ? { group } : {}), ...(cdev !== undefined ? { cdev } : {}) };
}
