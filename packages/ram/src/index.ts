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
export { TARGET_PAGE_SIZE } from './ram-constants.js';

// Dirty tracking.
export type { DirtySource } from './dirty-source.js';
export { SoftwareDirtySource } from './software-dirty-source.js';
export { DirtyBitmap } from './dirty-bitmap.js';
export { DirtyTracker } from './dirty-tracker.js';

// Errors.
export { RamBlockError, RamLoadError, type RamLoadErrorCode, type RamLoadErrorInit } from './ram-errors.js';
