/**
 * Saving one chunk of device data from the migration region to the stream (docs/design/vfio-uapi.md
 * §7.4 b–d): read `data_offset` (the device stages data), read `data_size`, then the data
 * (copied out of the mapped data section when save setup mapped it, else pread), written as
 * `be64 size` followed by the bytes.
 */
import type { QemuFileWriter } from '@savevm/stream';
import type { V1Phase } from '../errors.js';
import type { V1MigrationRegion } from '../migration-region.js';

/** Largest piece read from the region at once while saving (the scratch buffer's size limit). */
export const MAX_SAVE_PIECE_BYTES = 1024 * 1024;

/**
 * Sends chunks from one device's region to a stream through one reused scratch buffer,
 * allocated on first use and never larger than {@link MAX_SAVE_PIECE_BYTES}.
 */
export class V1ChunkSender {
  #scratch: Uint8Array | undefined;

  /** @param region the device's migration region; @param maxPieceBytes largest pread (default 1 MiB) */
  constructor(
    private readonly region: V1MigrationRegion,
    private readonly maxPieceBytes: number = MAX_SAVE_PIECE_BYTES,
  ) {
    if (!Number.isSafeInteger(maxPieceBytes) || maxPieceBytes <= 0) throw new RangeError(`bad piece size ${maxPieceBytes}`);
  }

  /**
   * Stages one chunk and writes `be64 data_size` and the data to `f` (QEMU
   * `vfio_save_buffer`). Returns `data_size` (0: the device had nothing staged).
   */
  async sendChunk(f: QemuFileWriter, phase: V1Phase): Promise<number> {
    const dataOffset = this.region.readDataOffset(phase);
    const size = this.region.readDataSize(dataOffset, phase);
    f.putBe64Number(size);
    let sent = 0;
    while (sent < size) {
      const piece = this.#scratchOf(Math.min(size - sent, this.maxPieceBytes)).subarray(0, Math.min(size - sent, this.maxPieceBytes));
      this.region.readData(dataOffset + sent, piece, phase);
      f.putBuffer(piece, 'lend');
      // The writer may still hold the scratch buffer: wait until it lets go before refilling it.
      await f.released();
      sent += piece.byteLength;
    }
    return size;
  }

  /** Drops the scratch buffer. */
  release(): void {
    this.#scratch = undefined;
  }

  #scratchOf(bytes: number): Uint8Array {
    if (this.#scratch === undefined || this.#scratch.byteLength < bytes) {
      this.#scratch = new Uint8Array(Math.min(this.maxPieceBytes, Math.max(bytes, this.#scratch?.byteLength ?? 0)));
    }
    return this.#scratch;
  }
}
