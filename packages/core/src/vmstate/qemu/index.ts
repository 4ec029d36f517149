/**
 * `@savevm/core/qemu-vmstate`: QEMU's own device descriptions through the vmstate engine.
 * Load a `qemu-system-x86_64 -dump-vmstate` document, then decode any FULL section of a
 * QEMU stream into named fields and encode it back, byte for byte. The rules it relies on
 * are in `docs/design/qemu-vmstate.md`.
 * @packageDocumentation
 */
export type { QemuDumpDescription, QemuDumpDevice, QemuDumpField, QemuVmstateDump } from './dump-model.js';
export { parseQemuVmstateDump } from './dump-parse.js';
export { QemuVmstateDumpError, QemuSectionError, QemuLayoutError, type QemuSectionReason, type QemuSectionErrorInit } from './errors.js';
export type { QemuState } from './leaf-field.js';
export { layoutFromDump, layoutFromVmdesc, type SentStruct, type QemuLayoutPlace } from './section-layout.js';
export {
  decodeQemuSection,
  encodeQemuSection,
  reencodeQemuSection,
  type QemuSectionBody,
  type ReencodedQemuSection,
  type DecodedQemuSection,
  type QemuDescriptionSource,
} from './section-codec.js';
