/**
 * `@savevm/ram`: guest memory as a live handler on QEMU's `ram` section — RAM blocks the
 * VMM owns, dirty tracking composed from dirty sources (the VMM's own writes, and later
 * VFIO DMA tracking), and the section's records byte for byte on both sides.
 * @packageDocumentation
 */

// The blocks and the handlers.
export { GuestRam } from './guest-ram.js';
export { RamBlock, type RamBlockOptions, type PageRange } from './ram-block.js';
export { RamMigration, registerRam, type RamMigrationOptions } from './ram-migration.js';
export { RamSaver, type RamSaverOptions, type RamSaveStats } from './ram-saver.js';
export { RamLoader, type RamLoaderOptions, type RamLoadStats } from './ram-loader.js';

// Dirty tracking.
export type { DirtySource } from './dirty-source.js';
export { SoftwareDirtySource } from './software-dirty-source.js';
export { DirtyBitmap, popcount32 } from './dirty-bitmap.js';
export { DirtyTracker } from './dirty-tracker.js';

// The wire.
export { putRecordWord, putBlockName, putBlockList, putEndOfSection } from './ram-records.js';
export { isZeroPage, zeroPageTest, type ZeroPageTest } from './zero-page.js';
export {
  TARGET_PAGE_SIZE,
  TARGET_PAGE_BITS,
  RAM_SECTION_IDSTR,
  RAM_SECTION_INSTANCE_ID,
  RAM_SECTION_VERSION,
  MAX_RAM_BLOCK_IDSTR_LENGTH,
  ITERATE_MAX_WAIT_MS,
  ITERATE_CLOCK_CHECK_PAGES,
} from './ram-constants.js';

// Errors.
export { RamBlockError, RamLoadError, type RamLoadErrorCode, type RamLoadErrorInit } from './ram-errors.js';
