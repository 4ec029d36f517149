/**
 * Guest RAM as a live save-state entry: QEMU's `ram` section on both sides, through the
 * `SaveVMHandlers` contract.
 */
import type {
  LoadOutcome,
  LoadSetupContext,
  PendingBytes,
  SaveSetupContext,
  SaveStateEntry,
  SaveStateEntryInfo,
  SaveStateRegistry,
  SaveVMHandlers,
} from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { GuestRam } from './guest-ram.js';
import { RAM_SECTION_IDSTR, RAM_SECTION_INSTANCE_ID, RAM_SECTION_VERSION } from './ram-constants.js';
import { RamLoader, type RamLoaderOptions } from './ram-loader.js';
import { RamSaver, type RamSaverOptions } from './ram-saver.js';

/** How the RAM handlers behave on either side. */
export interface RamMigrationOptions extends RamSaverOptions, RamLoaderOptions {}

/**
 * The `ram` section's handlers for one {@link GuestRam}: setup writes the block list
 * (START), each iterate round sends dirty pages (PART), completion a last sync and the rest
 * (END); the pending estimate is the dirty pages × 4096 and the exact figure syncs first.
 * On the destination every section is read into the blocks, refused as QEMU refuses it.
 */
export class RamMigration implements SaveVMHandlers {
  /** The source side. */
  readonly saver: RamSaver;
  /** The destination side. */
  readonly loader: RamLoader;

  /** @param ram the blocks and dirty sources */
  constructor(
    readonly ram: GuestRam,
    options: RamMigrationOptions = {},
  ) {
    this.saver = new RamSaver(ram, options);
    this.loader = new RamLoader(ram, options);
  }

  /** START: starts dirty tracking, writes the block list; with multifd channels, pages go there. */
  saveSetup(f: QemuFileWriter, _entry?: SaveStateEntryInfo, context?: SaveSetupContext): Promise<void> {
    return this.saver.setup(f, context?.multifd);
  }

  /** Dirty pages × 4096, no sync. */
  statePendingEstimate(): PendingBytes {
    return { mustPrecopy: this.saver.pendingBytes, canPostcopy: 0 };
  }

  /** Syncs the dirty bitmaps, then dirty pages × 4096. */
  async statePendingExact(): Promise<PendingBytes> {
    return { mustPrecopy: await this.saver.pendingExact(), canPostcopy: 0 };
  }

  /** PART: dirty pages within the writer's rate limit and 50 ms; true when none is left for now. */
  saveLiveIterate(f: QemuFileWriter): Promise<boolean> {
    return this.saver.iterate(f);
  }

  /** END: a last sync, every dirty page. */
  saveLiveCompletePrecopy(f: QemuFileWriter): Promise<void> {
    return this.saver.complete(f);
  }

  /** Stops dirty tracking. */
  saveCleanup(): Promise<void> {
    return this.saver.cleanup();
  }

  /** Starts a load; with multifd channels, their RAM packets are written into the blocks. */
  loadSetup(_f?: QemuFileReader, context?: LoadSetupContext): void {
    this.loader.setup(context?.multifd);
  }

  /** Reads one section body into the blocks (the registry has checked the version is 4). */
  loadState(f: QemuFileReader): Promise<void> {
    return this.loader.loadSection(f);
  }

  /** Ends a load. */
  loadCleanup(_entry: SaveStateEntry, _outcome: LoadOutcome): void {
    this.loader.cleanup();
  }
}

/**
 * Registers `ram` (instance 0, version 4, accepting only version 4) for `ram`'s blocks in
 * `registry` and returns the entry.
 * @throws RegistrationError when a `ram` entry is registered already
 */
export function registerRam(registry: SaveStateRegistry, ram: GuestRam, options: RamMigrationOptions = {}): SaveStateEntry {
  return registry.register(RAM_SECTION_IDSTR, RAM_SECTION_INSTANCE_ID, RAM_SECTION_VERSION, new RamMigration(ram, options), {
    minimumVersionId: RAM_SECTION_VERSION,
  });
}
