/**
 * The byte check, carried in the stream itself: a small non-live entry,
 * `savevm-migrator/state-check`, whose SECTION_FULL is written after every device stopped
 * and sent its last bytes. For each emulated device it records the name, size, seed, the
 * pages its workload dirtied and the SHA-256 of its final state. The destination loads it
 * and, once the stream is complete, checks its own loaded bytes against it — and that the
 * source's digest is what the seed and the dirtying give, so a device that corrupted its own
 * state is caught too. It is a regular QEMU section: `savevm inspect` shows it.
 */
import type { SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';
import type { OpenedEmulatedDevice } from '../devices/opened-device.js';

/** The check entry's idstr. */
export const STATE_CHECK_IDSTR = 'savevm-migrator/state-check';
/** Its section version. */
export const STATE_CHECK_VERSION = 1;

/** What the source recorded about one emulated device. */
export interface SourceDeviceRecord {
  /** The device name. */
  readonly name: string;
  /** State size, bytes. */
  readonly size: number;
  /** The seed its state was filled from. */
  readonly seed: number;
  /** Pages its workload dirtied before it stopped. */
  readonly pagesDirtied: number;
  /** SHA-256 of its state when it stopped, hex. */
  readonly sha256: string;
}

const MAX_DEVICES = 4096;

/** The source side: writes one record per emulated device. */
export function stateCheckSaveHandlers(devices: readonly OpenedEmulatedDevice[]): SaveVMHandlers {
  return {
    saveState(f: QemuFileWriter): void {
      f.putBe32(devices.length);
      for (const d of devices) {
        f.putCountedString(d.spec.name);
        f.putBe64Number(d.spec.size);
        f.putBe32(d.spec.seed);
        f.putBe64Number(d.pagesDirtied);
        f.putBuffer(Buffer.from(d.digest(), 'hex'));
      }
    },
  };
}

/** The destination side: collects the records into `into`. */
export function stateCheckLoadHandlers(into: SourceDeviceRecord[]): SaveVMHandlers {
  return {
    async loadState(f: QemuFileReader): Promise<void> {
      const count = await f.getBe32();
      if (count > MAX_DEVICES) throw new Error(`state check lists ${count} devices (at most ${MAX_DEVICES})`);
      for (let i = 0; i < count; i++) {
        const name = await f.getCountedString('a device name');
        const size = await f.getBe64Number();
        const seed = await f.getBe32();
        const pagesDirtied = await f.getBe64Number();
        const sha256 = (await f.getBytes(32, 'a SHA-256 digest')).toString('hex');
        into.push({ name, size, seed, pagesDirtied, sha256 });
      }
    },
  };
}
