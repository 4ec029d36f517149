/**
 * Step 4 of the template: the SaveVMHandlers — what runs when.
 *
 * Source (VM running):  saveSetup → { statePendingEstimate → saveLiveIterate }* →
 *   (VM stopped) saveLiveCompletePrecopy → saveState → saveCleanup.
 * Destination:          loadSetup → loadState per section → loadCleanup.
 *
 * One entry carries both kinds of state, as QEMU's VFIO devices do: the memory in live
 * sections (START, PARTs, END) and the registers in a FULL section written after every
 * live section. `loadState` is called for all of them; the LIVE_DONE record in the END
 * body tells it that the next call is the FULL one.
 */
import { loadVmState, recordSavedVmdesc, saveVmState, type PendingBytes, type SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { Scratchpad } from './scratchpad.js';
import { scratchpadRegistersVmState } from './scratchpad-registers.js';
import { ScratchpadTag, readTag, writeConfig, writePage, writeTag } from './scratchpad-wire.js';

/** The version of the scratchpad's sections (the registers' description version). */
export const SCRATCHPAD_VERSION = scratchpadRegistersVmState.version;
/** The oldest version the scratchpad still loads. */
export const SCRATCHPAD_MINIMUM_VERSION = scratchpadRegistersVmState.minimumVersion ?? 0;

/** A scratchpad section the destination cannot load (geometry mismatch, bad record). */
export class ScratchpadLoadError extends Error {
  /** @param detail what is wrong */
  constructor(detail: string) {
    super(detail);
    this.name = new.target.name;
  }
}

/** Options of {@link ScratchpadMigration}. */
export interface ScratchpadMigrationOptions {
  /** Most pages sent per `saveLiveIterate` round (default 8): keeps each round short. */
  readonly pagesPerRound?: number;
}

/** The scratchpad's SaveVMHandlers. */
export class ScratchpadMigration implements SaveVMHandlers {
  private readonly pagesPerRound: number;
  /** Destination: whether the live part is over (the next section is the registers). */
  private liveDone = false;

  /** @param device the device to migrate (source) or to load into (destination) */
  constructor(
    readonly device: Scratchpad,
    options: ScratchpadMigrationOptions = {},
  ) {
    this.pagesPerRound = options.pagesPerRound ?? 8;
  }

  // ---- source ----------------------------------------------------------------------

  /** Start tracking writes (every page starts dirty) and send the geometry. */
  saveSetup(f: QemuFileWriter): void {
    this.device.startDirtyTracking();
    writeConfig(f, this.device.pageCount, this.device.pageSize);
    writeTag(f, ScratchpadTag.END_OF_BODY);
  }

  /** Cheap and exact here: the dirty pages. The driver switches over once this fits in the downtime. */
  statePendingEstimate(): PendingBytes {
    return { mustPrecopy: this.device.dirtyPageCount * this.device.pageSize, canPostcopy: 0 };
  }

  /** One round: a few dirty pages (fewer if the rate limit says so). True when none are left for now. */
  saveLiveIterate(f: QemuFileWriter): boolean {
    for (const page of this.device.takeDirtyPages(this.pagesPerRound)) {
      writePage(f, page, this.device.page(page));
      if (f.rateLimitExceeded()) break;
    }
    writeTag(f, ScratchpadTag.END_OF_BODY);
    return this.device.dirtyPageCount === 0;
  }

  /** VM stopped: nothing can dirty a page any more, so send every page still dirty. */
  saveLiveCompletePrecopy(f: QemuFileWriter): void {
    for (const page of this.device.takeDirtyPages(this.device.pageCount)) writePage(f, page, this.device.page(page));
    writeTag(f, ScratchpadTag.LIVE_DONE);
    writeTag(f, ScratchpadTag.END_OF_BODY);
  }

  /** The registers, declaratively; recording the vmdesc lets `savevm inspect` show them by name. */
  async saveState(f: QemuFileWriter): Promise<void> {
    recordSavedVmdesc(this, await saveVmState(f, scratchpadRegistersVmState, this.device.registers));
  }

  /** Always runs, whatever happened: stop tracking. */
  saveCleanup(): void {
    this.device.stopDirtyTracking();
  }

  // ---- destination -----------------------------------------------------------------

  /** Before the first section. */
  loadSetup(): void {
    this.liveDone = false;
  }

  /** One section's body: live records until LIVE_DONE, then the registers. */
  async loadState(f: QemuFileReader, versionId: number): Promise<void> {
    if (this.liveDone) {
      await loadVmState(f, scratchpadRegistersVmState, this.device.registers, versionId);
      return;
    }
    for (;;) {
      const tag = await readTag(f);
      switch (tag) {
        case ScratchpadTag.END_OF_BODY:
          return;
        case ScratchpadTag.CONFIG: {
          const pageCount = await f.getBe32('the page count');
          const pageSize = await f.getBe32('the page size');
          if (pageCount !== this.device.pageCount || pageSize !== this.device.pageSize) {
            throw new ScratchpadLoadError(
              `${this.device}: the source has ${pageCount} pages of ${pageSize} bytes, this device ${this.device.pageCount} of ${this.device.pageSize}`,
            );
          }
          break;
        }
        case ScratchpadTag.PAGE: {
          const index = await f.getBe32('a page index');
          if (index >= this.device.pageCount) throw new ScratchpadLoadError(`${this.device}: page ${index} is outside its ${this.device.pageCount} pages`);
          // Straight into the memory: no allocation sized by the stream.
          await f.readInto(this.device.page(index), `page ${index}`);
          break;
        }
        case ScratchpadTag.LIVE_DONE:
          this.liveDone = true;
          break;
        default:
          throw new ScratchpadLoadError(`${this.device}: unknown record tag 0x${tag.toString(16)}`);
      }
    }
  }

  /** After the last section, successful or not. */
  loadCleanup(): void {
    this.liveDone = false;
  }
}
