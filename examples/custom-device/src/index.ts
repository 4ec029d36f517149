/**
 * `@savevm/custom-device`: a template device handler to copy. Read the files in order:
 * `scratchpad.ts` (the device), `scratchpad-registers.ts` (declarative state),
 * `scratchpad-wire.ts` (the live record format), `scratchpad-migration.ts` (the hooks),
 * `scratchpad-provider.ts` (the wiring). The guide is `docs/writing-a-device-handler.md`.
 * @packageDocumentation
 */
export {
  Scratchpad,
  resetRegisters,
  CONTROL_VALID_BITS,
  STATUS_FAULT,
  MAX_LABEL_BYTES,
  type ScratchpadOptions,
  type ScratchpadRegisters,
} from './scratchpad.js';
export { scratchpadRegistersVmState } from './scratchpad-registers.js';
export { ScratchpadTag, writeConfig, writePage, writeTag, readTag } from './scratchpad-wire.js';
export {
  ScratchpadMigration,
  ScratchpadLoadError,
  SCRATCHPAD_VERSION,
  SCRATCHPAD_MINIMUM_VERSION,
  type ScratchpadMigrationOptions,
} from './scratchpad-migration.js';
export { ScratchpadProvider, scratchpadContainerModule } from './scratchpad-provider.js';
