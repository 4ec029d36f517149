/**
 * A config-state hook that keeps the VMM's config bytes as an opaque blob: what a VMM that
 * does not model QEMU's PCI config vmstate uses to move a device between QEMU and savevm
 * (docs/design/qemu-versions.md, "A VFIO device between QEMU 10.0 and savevm").
 */
import { RecordType, type QemuFileReader, type QemuFileWriter } from '@savevm/stream';
import { VfioTag } from '@savevm/vfio';
import type { VfioConfigStateHook } from './options.js';

/** Why an {@link OpaqueConfigState} refused to load or save. */
export type OpaqueConfigStateErrorReason =
  /** `save` with no blob (none given, none loaded). */
  | 'NO_BLOB'
  /** The stream ended (or `maxLength` was passed) before the config state's end. */
  | 'NO_END'
  /** A fixed `length` was given and the bytes after it are not END_OF_STATE. */
  | 'LENGTH_MISMATCH';

/** A failure of {@link OpaqueConfigState}. */
export class OpaqueConfigStateError extends Error {
  /** What went wrong. */
  readonly reason: OpaqueConfigStateErrorReason;

  /** @param reason what went wrong; @param message the details */
  constructor(reason: OpaqueConfigStateErrorReason, message: string) {
    super(message);
    this.name = 'OpaqueConfigStateError';
    this.reason = reason;
  }
}

/** Options of an {@link OpaqueConfigState}. */
export interface OpaqueConfigStateOptions {
  /** The blob `save` writes until one is loaded (default: none; `save` then throws). */
  readonly bytes?: Uint8Array;
  /**
   * The blob's exact length, when the VMM knows it (QEMU's config vmstate has a fixed size for
   * one device model and machine type). Without it, `load` takes the bytes up to the first
   * END_OF_STATE tag that a section footer follows: a config state is only ever sent in a
   * SECTION_FULL, which QEMU closes with a footer (every machine type since 2.4).
   */
  readonly length?: number;
  /** The longest blob `load` accepts when it searches for the end (default 1 MiB). */
  readonly maxLength?: number;
}

/** END_OF_STATE as it appears on the wire, followed by the section-footer byte. */
const END_THEN_FOOTER = (() => {
  const b = Buffer.alloc(9);
  b.writeBigUInt64BE(VfioTag.END_OF_STATE);
  b[8] = RecordType.SECTION_FOOTER;
  return b;
})();

/**
 * The config state as bytes savevm does not interpret: `load` keeps what the source sent
 * between DEV_CONFIG_STATE and END_OF_STATE, `save` writes it back unchanged. Install it as
 * `configState` on both sides to carry QEMU's PCI config vmstate through savevm.
 */
export class OpaqueConfigState implements VfioConfigStateHook {
  /** The blob: the last one loaded, else the one given. */
  bytes: Uint8Array | undefined;
  readonly #length: number | undefined;
  readonly #maxLength: number;

  /** @param options the initial blob, its fixed length, the search limit */
  constructor(options: OpaqueConfigStateOptions = {}) {
    this.bytes = options.bytes;
    this.#length = options.length;
    this.#maxLength = options.maxLength ?? 1024 * 1024;
  }

  /** Writes the blob. */
  save(f: QemuFileWriter): void {
    if (this.bytes === undefined) throw new OpaqueConfigStateError('NO_BLOB', 'opaque config state: no blob to save (none given, none loaded)');
    f.putBuffer(this.bytes, 'copy');
  }

  /** Reads the blob: `length` bytes, or up to the END_OF_STATE that a footer follows. */
  async load(f: QemuFileReader): Promise<void> {
    if (this.#length !== undefined) {
      const blob = await f.getBytes(this.#length, 'the opaque config state');
      const next = await f.peek(8);
      if (next.length < 8 || next.readBigUInt64BE(0) !== VfioTag.END_OF_STATE) {
        throw new OpaqueConfigStateError('LENGTH_MISMATCH', `opaque config state: ${this.#length} bytes are not followed by END_OF_STATE`);
      }
      this.bytes = blob;
      return;
    }
    const parts: Buffer[] = [];
    let taken = 0;
    for (;;) {
      await f.peek(END_THEN_FOOTER.length);
      const window = await f.peek(Math.max(f.available, END_THEN_FOOTER.length));
      const at = window.indexOf(END_THEN_FOOTER);
      // Without a match, keep the last 8 bytes: the pattern may straddle the next read.
      const take = at >= 0 ? at : window.length - (END_THEN_FOOTER.length - 1);
      if (at < 0 && take <= 0) {
        throw new OpaqueConfigStateError('NO_END', `opaque config state: the stream ended after ${taken + window.length} bytes without END_OF_STATE and a section footer`);
      }
      if (taken + take > this.#maxLength) {
        throw new OpaqueConfigStateError('NO_END', `opaque config state: no END_OF_STATE and section footer within ${this.#maxLength} bytes`);
      }
      parts.push(Buffer.from(window.subarray(0, take)));
      taken += take;
      await f.skip(take, 'the opaque config state');
      if (at >= 0) break;
    }
    this.bytes = Buffer.concat(parts, taken);
  }
}
