/**
 * The byte check, carried in the stream itself: a small non-live entry,
 * `savevm-migrator/state-check`, whose SECTION_FULL is written after every device stopped
 * and sent its last bytes. For each emulated device it records the name, size, seed, the
 * pages its workload dirtied and the SHA-256 of its final state; version 2 adds the same
 * for the guest RAM (`--memory`), whose guest stopped with the VM. The destination loads it
 * and, once the stream is complete, checks its own loaded bytes against it — and that the
 * source's digest is what the seed and the dirtying give, so a device that corrupted its own
 * state is caught too. It is a regular QEMU section: `savevm inspect` shows it.
 *
 * Body: be32 device count, per device (counted name, be64 size, be32 seed, be64 pages
 * dirtied, 32-byte SHA-256); then, from version 2, be32 RAM block count (0 or 1), per block
 * (counted idstr, be64 size, be32 seed, be64 pages dirtied, 32-byte SHA-256).
 */
import type { SaveVMHandlers } from '@savevm/core';
import { type QemuFileReader, type QemuFileWriter, StreamFormatError, escapeWireString } from '@savevm/stream';
import { MAX_SEEDED_WRITES } from '../devices/seeded-bytes.js';
import type { OpenedEmulatedDevice } from '../devices/opened-device.js';
import type { VmRam } from '../ram/vm-ram.js';

/** The check entry's idstr. */
export const STATE_CHECK_IDSTR = 'savevm-migrator/state-check';
/** Its section version: 2 adds the RAM records. */
export const STATE_CHECK_VERSION = 2;
/** The oldest version the destination reads (a stream without RAM records). */
export const STATE_CHECK_MINIMUM_VERSION = 1;

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

/** What the source recorded about its RAM block (the same fields; `name` is the block's idstr). */
export type SourceRamRecord = SourceDeviceRecord;

/** Everything the destination collected from the check section. */
export interface SourceStateRecords {
  /** One record per emulated device. */
  readonly devices: SourceDeviceRecord[];
  /** One record per RAM block (none when the source had no `--memory`, or sent version 1). */
  readonly ram: SourceRamRecord[];
}

const MAX_DEVICES = 4096;
const MAX_RAM_BLOCKS = 1;

function putRecord(f: QemuFileWriter, record: SourceDeviceRecord): void {
  f.putCountedString(record.name);
  f.putBe64Number(record.size);
  f.putBe32(record.seed);
  f.putBe64Number(record.pagesDirtied);
  f.putBuffer(Buffer.from(record.sha256, 'hex'));
}

/**
 * One record. The pages-dirtied count drives the destination's byte check (one recomputed
 * write each), so a count beyond {@link MAX_SEEDED_WRITES} is refused here, at its offset,
 * before any work (see `docs/design/hostile-input.md`, "Budgets").
 */
async function getRecord(f: QemuFileReader, what: string): Promise<SourceDeviceRecord> {
  const name = await f.getCountedString(what);
  const size = await f.getBe64Number('a state size');
  const seed = await f.getBe32('a seed');
  const at = f.offset;
  const pagesDirtied = await f.getBe64Number('a pages-dirtied count');
  if (pagesDirtied > MAX_SEEDED_WRITES) {
    throw new StreamFormatError('TOO_LARGE', at, `state check: ${escapeWireString(name)} claims ${pagesDirtied} dirtied pages; the byte check recomputes at most ${MAX_SEEDED_WRITES}`);
  }
  const sha256 = (await f.getBytes(32, 'a SHA-256 digest')).toString('hex');
  return { name, size, seed, pagesDirtied, sha256 };
}

/**
 * The source side: one record per emulated device, then the RAM's. Written with the VM
 * stopped; the RAM's digest was started on the digest thread when the VM stopped, so most
 * of that pass over the RAM overlaps the last sections instead of adding to the downtime.
 */
export function stateCheckSaveHandlers(devices: readonly OpenedEmulatedDevice[], ram?: VmRam): SaveVMHandlers {
  return {
    async saveState(f: QemuFileWriter): Promise<void> {
      const ramDigest = ram?.finalDigest();
      f.putBe32(devices.length);
      for (const d of devices) {
        putRecord(f, { name: d.spec.name, size: d.spec.size, seed: d.spec.seed, pagesDirtied: d.pagesDirtied, sha256: d.digest() });
      }
      f.putBe32(ram === undefined ? 0 : 1);
      if (ram !== undefined && ramDigest !== undefined) {
        putRecord(f, { name: ram.block.idstr, size: ram.spec.size, seed: ram.spec.seed, pagesDirtied: ram.pagesDirtied, sha256: await ramDigest });
      }
    },
  };
}

/** The destination side: collects the records into `into`. */
export function stateCheckLoadHandlers(into: SourceStateRecords): SaveVMHandlers {
  return {
    async loadState(f: QemuFileReader, versionId: number): Promise<void> {
      const count = await f.getBe32();
      if (count > MAX_DEVICES) throw new StreamFormatError('TOO_LARGE', f.offset - 4, `state check lists ${count} devices (at most ${MAX_DEVICES})`);
      for (let i = 0; i < count; i++) into.devices.push(await getRecord(f, 'a device name'));
      if (versionId < 2) return;
      const blocks = await f.getBe32();
      if (blocks > MAX_RAM_BLOCKS) throw new StreamFormatError('TOO_LARGE', f.offset - 4, `state check lists ${blocks} RAM blocks (at most ${MAX_RAM_BLOCKS})`);
      for (let i = 0; i < blocks; i++) into.ram.push(await getRecord(f, 'a RAM block idstr'));
    },
  };
}
