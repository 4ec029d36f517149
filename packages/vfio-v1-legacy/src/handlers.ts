/**
 * The v1 protocol as `SaveVMHandlers` (docs/design/vfio-uapi.md §7.4–§7.6, wire layout
 * docs/design/stream-format.md §5):
 *
 * - Save and load setup map the data section when its sparse-mmap cap allows (pread/pwrite
 *   otherwise, or when mmap fails, as QEMU 7.x); save and load cleanup unmap it.
 * - START: `SETUP_STATE, END_OF_STATE`, after adding SAVING (pre-copy).
 * - PART: always `DATA_STATE`, then `be64 0, END_OF_STATE` when nothing is pending, else
 *   `be64 n, n bytes, END_OF_STATE` — one chunk per round.
 * - END: stop-and-copy; `DATA_STATE, be64 n, n bytes` while `pending_bytes` > 0 (a final
 *   `DATA_STATE, be64 0` when the device stages nothing), then `END_OF_STATE`; then STOP.
 *   The loop is bounded: `pending_bytes` may not grow while the device is stopped, and the
 *   bytes sent may not exceed twice what was pending plus one region.
 * - Load: RESUMING, then each DATA chunk written at `data_offset` followed by `data_size`.
 */
import type { LoadOutcome, LoadSetupContext, PendingBytes, SaveStateEntryInfo, SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { receiveChunk } from './load/receive-chunk.js';
import { V1ChunkSender } from './save/chunk-sender.js';
import { V1Transition } from './device-state.js';
import { VfioV1Error, type V1Phase } from './errors.js';
import type { V1MigrationRegion } from './migration-region.js';
import { changeV1State } from './set-state.js';

/** The section version v1 writes and accepts (QEMU registers VFIO with version 1). */
export const VFIO_V1_VERSION_ID = 1;

/** Options of {@link VfioV1Handlers}. */
export interface VfioV1HandlerOptions {
  /** Largest pread of the data section while saving, bytes (default 1 MiB). */
  readonly maxPieceBytes?: number;
}

/** What the load side has seen since `loadSetup`. */
interface LoadProgress {
  sections: number;
}

/** The save and load hooks of one v1 device. */
export class VfioV1Handlers implements SaveVMHandlers {
  readonly #region: V1MigrationRegion;
  readonly #sender: V1ChunkSender;
  /** `pending_bytes` as last read by a pending hook; 0 after a chunk (QEMU's cache). */
  #cachedPending = 0;
  #load: LoadProgress | undefined;

  /** @param region the device's migration region; @param options tuning */
  constructor(region: V1MigrationRegion, options: VfioV1HandlerOptions = {}) {
    this.#region = region;
    this.#sender = new V1ChunkSender(region, options.maxPieceBytes);
  }

  // ---- source ------------------------------------------------------------------------------

  /**
   * Maps the data section (or falls back to pread), adds SAVING (keeping RUNNING: pre-copy)
   * and writes `SETUP_STATE, END_OF_STATE`. A failure unmaps again.
   */
  saveSetup(f: QemuFileWriter): void {
    this.#cachedPending = 0;
    this.#region.mapDataSection('save-setup');
    try {
      changeV1State(this.#region, V1Transition.START_SAVING, 'save-setup');
    } catch (error) {
      this.#region.unmapDataSectionQuietly();
      throw error;
    }
    f.putBe64(VfioTag.DEV_SETUP_STATE);
    f.putBe64(VfioTag.END_OF_STATE);
  }

  /** Reads `pending_bytes` (all of it must move before switchover). */
  statePendingEstimate(): PendingBytes {
    return this.#pending();
  }

  /** The same as the estimate: `pending_bytes` is the device's own figure. */
  statePendingExact(): PendingBytes {
    return this.#pending();
  }

  /** One PART body: `DATA_STATE`, then one chunk (or `be64 0`), then `END_OF_STATE`. */
  async saveLiveIterate(f: QemuFileWriter): Promise<boolean> {
    f.putBe64(VfioTag.DEV_DATA_STATE);
    if (this.#cachedPending === 0) {
      this.#cachedPending = this.#region.readPendingBytes('iterate');
      if (this.#cachedPending === 0) {
        f.putBe64Number(0);
        f.putBe64(VfioTag.END_OF_STATE);
        return true;
      }
    }
    await this.#sender.sendChunk(f, 'iterate');
    f.putBe64(VfioTag.END_OF_STATE);
    // pending_bytes is not asked between rounds of a snapshot: re-read it next time.
    this.#cachedPending = 0;
    return false;
  }

  /** The END body: stop-and-copy until nothing is pending, `END_OF_STATE`, then STOP. */
  async saveLiveCompletePrecopy(f: QemuFileWriter): Promise<void> {
    const phase: V1Phase = 'complete';
    changeV1State(this.#region, V1Transition.STOP_AND_COPY, phase);
    const initial = this.#region.readPendingBytes(phase);
    const budget = 2 * initial + this.#region.region.size;
    let pending = initial;
    let sent = 0;
    while (pending > 0) {
      f.putBe64(VfioTag.DEV_DATA_STATE);
      const size = await this.#sender.sendChunk(f, phase);
      if (size === 0) break;
      sent += size;
      const previous = pending;
      pending = this.#region.readPendingBytes(phase);
      if (pending > previous) {
        throw this.#notDraining(`pending_bytes grew from ${previous} to ${pending} while the device was stopped`);
      }
      if (pending > 0 && sent > budget) {
        throw this.#notDraining(`${sent} bytes sent in stop-and-copy, ${initial} were pending at its start, and ${pending} are still pending`);
      }
    }
    f.putBe64(VfioTag.END_OF_STATE);
    changeV1State(this.#region, V1Transition.FINISH_SAVING, phase);
    this.#cachedPending = 0;
  }

  /** Unmaps the data section and frees the save-side buffer. The device state is put back by the run-state and status hooks. */
  saveCleanup(): void {
    this.#cachedPending = 0;
    this.#sender.release();
    this.#region.unmapDataSection('save-cleanup');
  }

  // ---- destination -------------------------------------------------------------------------

  /** Maps the data section (or falls back to pwrite), then puts the device in RESUMING (every other bit cleared). A failure unmaps again. */
  loadSetup(_f: QemuFileReader, _context: LoadSetupContext): void {
    this.#load = { sections: 0 };
    this.#region.mapDataSection('load-setup');
    try {
      changeV1State(this.#region, V1Transition.START_RESUMING, 'load-setup');
    } catch (error) {
      this.#region.unmapDataSectionQuietly();
      throw error;
    }
  }

  /** Reads one section body: tags until `END_OF_STATE`, each DATA chunk written to the device. */
  async loadState(f: QemuFileReader, versionId: number): Promise<void> {
    const load = (this.#load ??= { sections: 0 });
    load.sections++;
    if (versionId !== VFIO_V1_VERSION_ID) throw this.#badStream(`section version ${versionId} is not ${VFIO_V1_VERSION_ID}`);
    await this.#loadBody(f);
  }

  /**
   * Unmaps the data section. After a load that failed — here or in another device — or that never reached this
   * device, a device left in RESUMING is reset (back to RUNNING with its own state). After
   * a good load it stays in RESUMING until the VM starts (the run-state hook then sets
   * RUNNING), as in QEMU.
   */
  loadCleanup(_entry: SaveStateEntryInfo, outcome: LoadOutcome): void {
    const load = this.#load;
    this.#load = undefined;
    this.#region.unmapDataSectionQuietly();
    if (load === undefined || (outcome.succeeded && load.sections > 0)) return;
    try {
      this.#region.device.reset();
    } catch (cause) {
      throw new VfioV1Error({
        device: this.#region.deviceName,
        phase: 'load-cleanup',
        code: 'device-error',
        detail: 'resetting the device after a failed load failed',
        cause,
      });
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

  #pending(): PendingBytes {
    this.#cachedPending = this.#region.readPendingBytes('pending');
    return { mustPrecopy: this.#cachedPending, canPostcopy: 0 };
  }

  async #loadBody(f: QemuFileReader): Promise<void> {
    for (;;) {
      const at = f.offset;
      const tag = await f.getBe64('a vfio tag');
      switch (tag) {
        case VfioTag.END_OF_STATE:
          return;
        case VfioTag.DEV_SETUP_STATE: {
          const next = await f.getBe64('END_OF_STATE after SETUP_STATE');
          if (next !== VfioTag.END_OF_STATE) throw this.#badStream(`SETUP_STATE at ${at} is followed by 0x${next.toString(16)}, not END_OF_STATE`);
          return;
        }
        case VfioTag.DEV_DATA_STATE: {
          const size = await f.getBe64Number('a vfio data size');
          if (size > 0) await receiveChunk(this.#region, f, size, 'load');
          break;
        }
        case VfioTag.DEV_CONFIG_STATE:
          throw this.#badStream(`CONFIG_STATE at ${at}: device config space is not supported by this loader`);
        default:
          throw this.#badStream(`unknown tag 0x${tag.toString(16)} at ${at}`);
      }
    }
  }

  #badStream(detail: string): VfioV1Error {
    return new VfioV1Error({ device: this.#region.deviceName, phase: 'load', code: 'bad-stream', detail });
  }

  #notDraining(detail: string): VfioV1Error {
    return new VfioV1Error({ device: this.#region.deviceName, phase: 'complete', code: 'pending-not-draining', detail });
  }
}
