/**
 * Step 2 of the template: the registers, described declaratively.
 *
 * Instead of writing bytes by hand, list the fields in stream order with their types;
 * `@savevm/core` writes and reads exactly what QEMU would for the same
 * VMStateDescription, checks versions, and describes the fields in the vmdesc JSON (so
 * `savevm inspect` shows them by name). Rules of thumb:
 * - never reorder or remove a field: add new ones at the end with `since: <new version>`
 *   and bump `version`; raise `minimumVersion` only when you drop support for old streams;
 * - put optional state in a subsection with a `needed` predicate: it costs nothing when
 *   absent, and an older destination that does not know it refuses it clearly;
 * - every variable length has a maximum: the loader refuses anything larger before
 *   allocating.
 */
import { defineVmState, vmstateFields, type VmStateDescription } from '@savevm/core';
import { CONTROL_VALID_BITS, MAX_LABEL_BYTES, STATUS_FAULT, type ScratchpadRegisters } from './scratchpad.js';

const f = vmstateFields<ScratchpadRegisters>();

/** The registers' layout, version 2 (version 1 had no `irqMask`). */
export const scratchpadRegistersVmState: VmStateDescription<ScratchpadRegisters> = defineVmState<ScratchpadRegisters>({
  name: 'scratchpad',
  version: 2,
  minimumVersion: 1,
  fields: [
    f.uint32('control'),
    f.uint32('status'),
    f.uint64('writes'),
    f.uint8('labelLength', { name: 'label_length' }),
    f.vbuffer('label', 'labelLength', MAX_LABEL_BYTES),
    // Added in version 2: a version-1 stream leaves it at its reset value.
    f.uint16('irqMask', { name: 'irq_mask', since: 2 }),
  ],
  subsections: [
    {
      name: 'scratchpad/fault',
      version: 1,
      fields: [f.uint32('faultAddress', { name: 'fault_address' })],
      needed: (regs) => (regs.status & STATUS_FAULT) !== 0,
    },
  ],
  // Keep derived values consistent: the length is computed from the label on save…
  preSave(regs) {
    regs.labelLength = regs.label.length;
  },
  // …and a state the device could never be in is refused (the migration fails cleanly).
  postLoad(regs) {
    if ((regs.control & ~CONTROL_VALID_BITS) !== 0) throw new RangeError(`control 0x${regs.control.toString(16)} has reserved bits set`);
  },
});
