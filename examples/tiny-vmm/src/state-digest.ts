/**
 * The byte check, carried in the stream: a small non-live section, written after every device
 * stopped and sent its last bytes, holding the SHA-256 of each device's state on the source.
 * The destination compares its own loaded state with it in `verifyLoaded`, before its VM
 * starts and before the source is told the outcome: a mismatch fails both sides.
 */
import { createHash } from 'node:crypto';
import { MigrationError, type SaveVMHandlers } from '@savevm/core';
import type { QemuFileReader, QemuFileWriter } from '@savevm/stream';

/** The section's idstr. */
export const DIGEST_IDSTR = 'tiny-vmm/digest';
/** The section's version. */
export const DIGEST_VERSION = 1;

/** Most devices a digest section may list. */
const MAX_DEVICES = 64;

/** SHA-256 of some bytes, hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The loaded state differs from the source's. */
export class DigestMismatchError extends Error {
  /** The devices whose state differs (or that one side lacks). */
  readonly devices: readonly string[];

  /** @param devices the devices whose state differs */
  constructor(devices: readonly string[]) {
    super(`state differs from the source's: ${devices.join(', ')}`);
    this.name = new.target.name;
    this.devices = devices;
  }
}

/** The digest section's handlers: writes this side's digests, reads the source's. */
export class DigestSection implements SaveVMHandlers {
  private readonly local: () => ReadonlyMap<string, string>;
  private readonly received = new Map<string, string>();

  /** @param local this side's device digests, by device name */
  constructor(local: () => ReadonlyMap<string, string>) {
    this.local = local;
  }

  /** Source, VM stopped: one (name, SHA-256) pair per device. */
  saveState(f: QemuFileWriter): void {
    const digests = this.local();
    f.putBe32(digests.size);
    for (const [name, digest] of digests) {
      f.putCountedString(name);
      f.putBuffer(Buffer.from(digest, 'hex'), 'copy');
    }
  }

  /** Destination: keeps the source's digests. */
  async loadState(f: QemuFileReader): Promise<void> {
    const count = await f.getBe32();
    if (count > MAX_DEVICES) {
      throw new MigrationError({ phase: 'load-state', reason: 'BAD_STREAM', detail: `the digest section lists ${count} devices (at most ${MAX_DEVICES})` });
    }
    for (let i = 0; i < count; i++) {
      const name = await f.getCountedString('a device name');
      this.received.set(name, (await f.getBytes(32, 'a SHA-256 digest')).toString('hex'));
    }
  }

  /**
   * Compares this side's state with the source's digests.
   * @throws DigestMismatchError naming every device that differs
   */
  check(): void {
    const local = this.local();
    const names = new Set([...local.keys(), ...this.received.keys()]);
    const differ = [...names].filter((name) => local.get(name) === undefined || local.get(name) !== this.received.get(name));
    if (differ.length > 0) throw new DigestMismatchError(differ);
  }
}
