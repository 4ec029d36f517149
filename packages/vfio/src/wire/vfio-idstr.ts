/**
 * The section idstr of a VFIO device: QEMU registers each VFIO device's state under
 * `<qdev path>/vfio`, or plain `vfio` when the device has no path. One helper builds it and
 * one recognises it, so the handlers that write the sections and the tools that read them
 * agree.
 */

/** The idstr suffix (and the whole idstr of a device without a path). */
const VFIO_IDSTR = 'vfio';

/** The idstr of a VFIO device at `path`: `<path>/vfio`, or `vfio` when there is no path. */
export function vfioIdstr(path: string | undefined): string {
  return path === undefined || path === '' ? VFIO_IDSTR : `${path}/${VFIO_IDSTR}`;
}

/** Whether an idstr belongs to a VFIO device (`<path>/vfio` or `vfio`). */
export function isVfioIdstr(idstr: string): boolean {
  return idstr === VFIO_IDSTR || idstr.endsWith(`/${VFIO_IDSTR}`);
}
