// mdev.mjs — guest helpers to create and remove mediated devices (mdevs) through sysfs, as the
// rig notes describe: echo <uuid> > /sys/class/<parent>/<parent>/mdev_supported_types/<type>/create,
// echo 1 > /sys/bus/mdev/devices/<uuid>/remove. Types: mtty-1, mtty-2 (sample "mtty", migration
// v2) and mdpy-vga, mdpy-xga, mdpy-hd (sample "mdpy", no migration).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const SYSFS_MDEV_DEVICES = '/sys/bus/mdev/devices';

/** The parent device of an mdev type (`mtty-2` → `mtty`). */
export function mdevParent(type) {
  const parent = /^(mtty|mdpy|mbochs)-/.exec(type)?.[1];
  if (!parent) throw new Error(`unknown mdev type ${type} (expected mtty-*, mdpy-* or mbochs-*)`);
  return parent;
}

/** The sysfs directory of an mdev type. */
export function mdevTypeDir(type) {
  const parent = mdevParent(type);
  return `/sys/class/${parent}/${parent}/mdev_supported_types/${type}`;
}

/** available_instances of a type (a number). */
export function availableInstances(type) {
  return Number(readFileSync(join(mdevTypeDir(type), 'available_instances'), 'utf8').trim());
}

/**
 * Describes an existing mdev: { uuid, type, sysfsPath, group, cdev }. `group` is the IOMMU
 * group number (/dev/vfio/<group>), `cdev` the vfio cdev name (/dev/vfio/devices/<cdev>).
 */
export function describeMdev(uuid) {
  const sysfsPath = join(SYSFS_MDEV_DEVICES, uuid);
  if (!existsSync(sysfsPath)) throw new Error(`mdev ${uuid} does not exist (${sysfsPath})`);
  const group = Number(basename(readlinkSync(join(sysfsPath, 'iommu_group'))));
  const cdev = readdirSync(join(sysfsPath, 'vfio-dev')).find((e) => /^vfio\d+$/.test(e));
  const type = basename(readlinkSync(join(sysfsPath, 'mdev_type')));
  return { uuid, type, sysfsPath, group, cdev };
}

/**
 * Creates an mdev of `type` (a random UUID unless given) and returns describeMdev() of it. Throws
 * with the kernel's errno (e.g. EEXIST for a duplicate UUID) when the create write fails.
 */
export function createMdev(type, uuid = randomUUID()) {
  writeFileSync(join(mdevTypeDir(type), 'create'), uuid);
  return describeMdev(uuid);
}

/**
 * Removes an mdev. Close every fd of the device first: the kernel blocks the remove until the
 * device is released, so the write runs in a child shell, and if it has not finished after
 * `timeoutMs` this rejects (naming the likely cause) instead of hanging the runner.
 */
export function removeMdev(uuid, { timeoutMs = 5000 } = {}) {
  const path = join(SYSFS_MDEV_DEVICES, uuid, 'remove');
  if (!existsSync(path)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `echo 1 > ${path}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.unref();
      reject(new Error(`removing mdev ${uuid} did not finish in ${timeoutMs} ms: is an fd of it still open?`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`removing mdev ${uuid} failed: ${stderr.trim() || `exit ${code}`}`));
    });
  });
}

/** UUIDs of every mdev currently present. */
export function listMdevs() {
  return existsSync(SYSFS_MDEV_DEVICES) ? readdirSync(SYSFS_MDEV_DEVICES) : [];
}
