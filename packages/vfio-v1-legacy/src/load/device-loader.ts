/**
 * The destination side of one v1 device (docs/design/vfio-uapi.md §7.5, wire layout
 * docs/design/stream-format.md §5): setup maps the data section (pwrite otherwise) and puts
 * the device in RESUMING; each DATA chunk is written at `data_offset`, followed by
 * `data_size`; cleanup unmaps, and resets a device whose load failed or never came.
 */
import type { LoadOutcome } from '@savevm/core';
import type { QemuFileReader } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import { V1Transition } from '../device-state.js';
import { VfioV1Error } from '../errors.js';
import type { V1MigrationRegion } from '../migration-region.js';
import { changeV1State } from '../set-state.js';
import { receiveChunk } from './receive-chunk.js';

/** The section version v1 writes and accepts (QEMU registers VFIO with version 1). */
export const VFIO_V1_VERSION_ID = 1;

/** What the load side has seen since its setup. */
interface LoadProgress {
  sections: number;
}

/** The load hooks of one v1 device. */
export class V1DeviceLoader {
  #load: LoadProgress | undefined;

  /** @param region the device's migration region */
  constructor(private readonly region: V1MigrationRegion) {}

  /** Maps the data section (or falls back to pwrite), then puts the device in RESUMING (every other bit cleared). A failure unmaps again. */
  setup(): void {
    this.#load = { sections: 0 };
    this.region.mapDataSection('load-setup');
    try {
      changeV1State(this.region, V1Transition.START_RESUMING, 'load-setup');
    } catch (error) {
      this.region.unmapDataSectionQuietly();
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
   * Unmaps the data section. After a load that failed — here or in another device — or that
   * never reached this device, a device left in RESUMING is reset (back to RUNNING with its
   * own state). After a good load it stays in RESUMING until the VM starts (the run-state
   * handler then sets RUNNING), as in QEMU.
   */
  cleanup(outcome: LoadOutcome): void {
    const load = this.#load;
    this.#load = undefined;
    this.region.unmapDataSectionQuietly();
    if (load === undefined || (outcome.succeeded && load.sections > 0)) return;
    try {
      this.region.device.reset();
    } catch (cause) {
      throw new VfioV1Error({
        device: this.region.deviceName,
        phase: 'load-cleanup',
        code: 'device-error',
        detail: 'resetting the device after a failed load failed',
        cause,
      });
    }
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
          if (size > 0) await receiveChunk(this.region, f, size, 'load');
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
    return new VfioV1Error({ device: this.region.deviceName, phase: 'load', code: 'bad-stream', detail });
  }
}
