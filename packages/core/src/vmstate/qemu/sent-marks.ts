/**
 * Which optional subsections a decoded state object came with. QEMU decides a subsection by
 * its `needed` callback, which the dump cannot carry; a description loaded from QEMU's
 * decides it by the wire instead: loading a subsection marks it here, and saving sends the
 * marked ones (see `docs/design/qemu-vmstate.md`, "Decided by the wire").
 */
import type { QemuState } from './leaf-field.js';

/** The state key holding the names of the subsections that came (no C field name has an `@`). */
export const SENT_SUBSECTIONS_KEY = '@subsections';

/** Records that subsection `name` came with `state`. */
export function markSent(state: QemuState, name: string): void {
  const list = state[SENT_SUBSECTIONS_KEY];
  if (Array.isArray(list)) list.push(name);
  else state[SENT_SUBSECTIONS_KEY] = [name];
}

/** Whether subsection `name` came with `state` (and is to be sent again). */
export function wasSent(state: QemuState, name: string): boolean {
  const list = state[SENT_SUBSECTIONS_KEY];
  return Array.isArray(list) && list.includes(name);
}
