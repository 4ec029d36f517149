// fds.mjs — lists this process's open file descriptors that belong to VFIO (device, group and
// container nodes, iommufd, vfio device fds, migration data fds), from /proc/self/fd. The runner
// uses it to fail a test that leaks one (a leaked fd also blocks mdev removal).
import { readdirSync, readlinkSync } from 'node:fs';

const VFIO_FD = /\/dev\/vfio|\/dev\/iommu|vfio|iommufd|mtty|mdpy|_mig/;

/** Map fd → link target of every VFIO-related fd open in this process. */
export function openVfioFds() {
  const fds = new Map();
  for (const entry of readdirSync('/proc/self/fd')) {
    let target;
    try {
      target = readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue; // the fd readdir itself used, closed by now
    }
    if (VFIO_FD.test(target)) fds.set(Number(entry), target);
  }
  return fds;
}
