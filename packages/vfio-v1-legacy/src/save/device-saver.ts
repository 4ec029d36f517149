/**
 * The source side of one v1 device (docs/design/vfio-uapi.md §7.4–§7.5, wire layout
 * docs/design/stream-format.md §5):
 *
 * - Setup maps the data section when its sparse-mmap cap allows (pread otherwise, or when
 *   mmap fails, as QEMU 7.x); cleanup unmaps it.
 * - START: `SETUP_STATE, END_OF_STATE`, after adding SAVING (pre-copy).
 * - PART: always `DATA_STATE`, then `be64 0, END_OF_STATE` when nothing is pending, else
 *   `be64 n, n bytes, END_OF_STATE` — one chunk per round.
 * - END: stop-and-copy; `DATA_STATE, be64 n, n bytes` while `pending_bytes` > 0 (a final
 *   `DATA_STATE, be64 0` when the device stages nothing), then `END_OF_STATE`; then STOP.
 *   The loop is bounded: `pending_bytes` may not grow while the device is stopped, and the
 *   bytes sent may not exceed twice what was pending plus one region.
 */
import type { PendingBytes } from '@savevm/core';
import type { QemuFileWriter } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { V1Transition } from '../device-state.js';
import { VfioV1Error, type V1Phase } from '../errors.js';
import type { V1MigrationRegion } from '../migration-region.js';
import { changeV1State } from '../set-state.js';
import { V1ChunkSender } from './chunk-sender.js';

/** The save hooks of one v1 device. */
export class V1DeviceSaver {
  readonly #region: V1MigrationRegion;
  readonly #sender: V1ChunkSender;
  /** `pending_bytes` as last read by a pending hook; 0 after a chunk (QEMU's cache). */
  #cachedPending = 0;

  /** @param region the device's migration region; @param maxPieceBytes largest pread of the data section */
  constructor(region: V1MigrationRegion, maxPieceBytes?: number) {
    this.#region = region;
    this.#sender = new V1ChunkSender(region, maxPieceBytes);
  }

  /**
   * Maps the data section (or falls back to pread), adds SAVING (keeping RUNNING: pre-copy)
   * and writes `SETUP_STATE, END_OF_STATE`. A failure unmaps again.
   */
  setup(f: QemuFileWriter): void {
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

  /** Reads `pending_bytes` (all of it must move before switchover); the exact figure is the same, the device's own. */
  pending(): PendingBytes {
    this.#cachedPending = this.#region.readPendingBytes('pending');
    return { mustPrecopy: this.#cachedPending, canPostcopy: 0 };
  }

  /** One PART body: `DATA_STATE`, then one chunk (or `be64 0`), then `END_OF_STATE`. Whether nothing was pending. */
  async iterate(f: QemuFileWriter): Promise<boolean> {
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
  async completePrecopy(f: QemuFileWriter): Promise<void> {
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
  cleanup(): void {
    this.#cachedPending = 0;
    this.#sender.release();
    this.#region.unmapDataSection('save-cleanup');
  }

  #notDraining(detail: string): VfioV1Error {
    return new VfioV1Error({ device: this.#region.deviceName, phase: 'complete', code: 'pending-not-draining', detail });
  }
}
